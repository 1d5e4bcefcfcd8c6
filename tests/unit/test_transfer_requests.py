"""What the API checks before it asks for a cold transfer to the inbound
queue: `recobro inbound` must listen on its Stasis application, or the
transfer is refused with the call untouched (the agent stays with the
debtor). The store and the call control are stand-ins; the lab proves the
transfer itself (tests/e2e/test_transfers.py)."""

import uuid
from datetime import UTC, datetime

import pytest

from dialer.agents.store import AgentCall, CallKind, LiveCall
from dialer.agents.transfers import Service, Transfer, TransferRefused, request_transfer

CALL = uuid.UUID("6f1c2a5e-0d7b-4f3e-9a1c-2b3d4e5f6a7b")
AGENT = "agent1001"
DESK = "recobro-inbound"
NOW = datetime(2026, 12, 4, 11, tzinfo=UTC)


class Store:
    """A call live with AGENT, being transferred to nobody."""

    async def live_call(self, call: uuid.UUID) -> LiveCall:
        return LiveCall(AgentCall(str(call), AGENT, True, False, CallKind.OUTBOUND, "es"),
                        AGENT, str(call))

    async def transfer_target(self, call: uuid.UUID, agent: str) -> None:
        return None

    async def server_of(self, agent: str) -> None:
        return None  # the one server's

    def reaches(self, server: str | None) -> bool:
        return True


class Calls:
    """Asterisk with the Stasis applications listening in apps."""

    def __init__(self, apps: set[str]) -> None:
        self.apps = apps
        self.asked: list[tuple[str, str, str, str, str]] = []

    async def application_connected(self, app: str) -> bool:
        return app in self.apps

    async def request_transfer(self, call_id: str, agent: str, to_agent: str, known_as: str,
                               to_service: str = "") -> None:
        self.asked.append((call_id, agent, to_agent, known_as, to_service))


async def test_the_inbound_queue_is_refused_while_no_recobro_inbound_listens():
    calls = Calls({"recobro-api"})
    with pytest.raises(TransferRefused) as refused:
        await request_transfer(Store(), calls, CALL, None, None, Service.INBOUND_QUEUE, NOW,
                               DESK)
    assert refused.value.status == 409
    assert str(refused.value) == ('"to_service": inbound_queue: no `recobro inbound` takes '
                                  "calls now; the debtor stays with the agent")
    assert calls.asked == []


async def test_an_api_without_asterisk_refuses_it_too():
    calls = Calls({DESK})
    with pytest.raises(TransferRefused):
        await request_transfer(Store(), calls, CALL, None, None, Service.INBOUND_QUEUE, NOW)
    assert calls.asked == []


async def test_with_recobro_inbound_listening_the_call_s_process_is_asked():
    calls = Calls({DESK})
    made = await request_transfer(Store(), calls, CALL, None, None, Service.INBOUND_QUEUE,
                                  NOW, DESK)
    assert made == Transfer(CALL, AGENT, "", Service.INBOUND_QUEUE)
    assert calls.asked == [(str(CALL), AGENT, "", str(CALL), "inbound_queue")]
