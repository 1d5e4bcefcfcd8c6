"""`recobro api`'s access log (at INFO) leaves the query out: a
WebSocket's query holds its token (issue 17)."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from dialer.api.server import _AccessLogWithoutQuery


def test_the_access_log_never_holds_the_query(caplog) -> None:
    logger = logging.getLogger("test.access")
    request = make_mocked_request("GET", "/agents/agent1001/events?token=rcb_not-to-be-logged")
    with caplog.at_level(logging.INFO, logger="test.access"):
        _AccessLogWithoutQuery(logger, "").log(request, web.Response(status=101), 0.25)
    assert caplog.messages == ['None "GET /agents/agent1001/events" 101 0.250 s']
    assert "rcb_" not in caplog.text
