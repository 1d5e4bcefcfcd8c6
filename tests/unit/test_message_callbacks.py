"""The callback listener's checks, over real HTTP, before anything reaches
the database: a request without the token, or with another, is refused
(403); a malformed report or reply is refused naming its field (400); a
reply's text is read in its coding; numbers as the phones table keeps
them. (What a report or a STOP records: tests/e2e/test_message_channels.py.)"""

from __future__ import annotations

import socket

import aiohttp
import pytest
from aiohttp import web

from dialer.messages.callbacks import callback_app, e164, reply_text
from dialer.messages.rules import is_opt_out

TOKEN = "cb-T0ken-for-the-tests-0123"


class NoDatabase:
    """Stands for the pool: any use of it fails the test."""

    def __getattr__(self, name: str):
        raise AssertionError(f"the database was used ({name}) for a refused request")


@pytest.fixture
async def listener():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    runner = web.AppRunner(callback_app(NoDatabase(), TOKEN), access_log=None)  # type: ignore[arg-type]
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession() as session:
        async def get(path_and_query: str, body: str | None = None) -> tuple[int, str]:
            """GET path_and_query; with a body, POST it (JSON)."""
            url = f"http://127.0.0.1:{port}{path_and_query}"
            async with (session.get(url) if body is None else session.post(
                    url, data=body, headers={"Content-Type": "application/json"})) as response:
                return response.status, await response.text()
        yield get
    await runner.cleanup()


@pytest.mark.parametrize("path", [
    "/kannel/dlr?message=1&status=1",
    f"/kannel/dlr?token={TOKEN[:-1]}&message=1&status=1",
    "/kannel/mo?token=&from=%2B12125550101&text=STOP&coding=0",
    f"/kannel/mo?token={TOKEN}x&from=%2B12125550101&text=STOP&coding=0",
])
async def test_without_the_token_nothing_is_recorded(listener, path) -> None:
    assert await listener(path) == (403, "token")


@pytest.mark.parametrize(("path", "named"), [
    (f"/kannel/dlr?token={TOKEN}&message=abc&status=1", "message: not a message id"),
    (f"/kannel/dlr?token={TOKEN}&message=&status=1", "message: not a message id"),
    (f"/kannel/dlr?token={TOKEN}&message=5&status=3", "status: not a report type"),
    (f"/kannel/dlr?token={TOKEN}&message=5&status=%25d", "status: not a report type"),
    (f"/kannel/mo?token={TOKEN}&from=somebody&text=STOP&coding=0", "from: not a phone number"),
])
async def test_a_malformed_callback_names_its_field(listener, path, named) -> None:
    status, text = await listener(path)
    assert (status, text.split(" (")[0]) == (400, named)


@pytest.mark.parametrize(("path", "body", "answer"), [
    ("/sms/report", '{"id": "SM1", "status": "delivered"}', (403, "token")),
    (f"/sms/report?token={TOKEN}0", '{"id": "SM1", "status": "delivered"}', (403, "token")),
    (f"/sms/report?token={TOKEN}", "id=SM1&status=delivered", (400, "body: not JSON")),
    (f"/sms/report?token={TOKEN}", '{"status": "delivered"}', (400, "id: missing")),
    (f"/sms/report?token={TOKEN}", '{"id": "SM1", "status": "lost in space"}',
     (400, "status: not a status Recobro knows")),
    (f"/sms/report?token={TOKEN}", '{"id": "SM1"}', (400, "status: not a status Recobro knows")),
])
async def test_a_provider_report_needs_the_token_and_names_a_bad_field(listener, path, body,
                                                                       answer) -> None:
    status, text = await listener(path, body)
    assert (status, text.split(" (")[0]) == answer


def test_a_reply_is_read_in_its_coding() -> None:
    assert reply_text("BAJÁ".encode("utf-16-be"), "2") == "BAJÁ"
    assert reply_text("Bajá".encode(), "0") == "Bajá"
    assert reply_text("Bajá".encode("latin-1"), "1") == "Bajá"  # not UTF-8
    assert is_opt_out(reply_text("cancelár".encode("utf-16-be"), "2"))


def test_numbers_as_the_phones_table_keeps_them() -> None:
    assert e164("+12125550101") == "+12125550101"
    assert e164("12125550101") == "+12125550101"
    assert e164(" 12125550101 ") == "+12125550101"
    assert e164("Recobro") is None
    assert e164("") is None


def test_a_short_token_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        callback_app(NoDatabase(), "short")  # type: ignore[arg-type]
