"""Fixtures the card gateway's e2e tests share: the lab's gateway settings,
an open gateway, and a fault proxy in front of the lab's Stripe mock."""

from __future__ import annotations

import pytest

from dialer.payments.gateway import open_gateway
from dialer.settings import (
    PaymentGatewaySettings,
    load_payment_gateway_settings,
    read_env_file,
)
from lab.config import LabConfig
from tests.e2e.fault_proxy import FaultProxy


@pytest.fixture(scope="module")
def gateway_settings(lab_config: LabConfig) -> PaymentGatewaySettings:
    return load_payment_gateway_settings(read_env_file(lab_config.env_file))


@pytest.fixture
async def gateway(gateway_settings):
    async with open_gateway(gateway_settings) as gateway:
        yield gateway


@pytest.fixture
async def proxy(lab_config):
    proxy = await FaultProxy(lab_config.host, lab_config.stripe_mock_port).start()
    yield proxy
    await proxy.stop()
