"""The API against odd bytes: a NUL, a control character, a lone surrogate
or bytes that are not UTF-8 in the path, the query or the JSON body is a
400 naming the part, never a 500; a header that is not UTF-8 is a 401.
Sent over a raw socket (an HTTP client would clean the requests up) to a
running `recobro api` on the lab."""

from __future__ import annotations

import asyncio
import json

import pytest

from dialer.settings import read_env_file
from tests.e2e.cli import cli_env
from tests.e2e.test_agents import api_url, start_api

pytestmark = pytest.mark.lab

NO_ATTEMPT = "00000000-0000-0000-0000-000000000000"


async def send(url: str, method: str, target: bytes, *, token: bytes,
               body: bytes | None = None) -> tuple[int, dict]:
    """One request written byte for byte; its status and JSON body."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (method.encode() + b" " + target + b" HTTP/1.1\r\nHost: " + host.encode()
            + b"\r\nConnection: close\r\nAuthorization: Bearer " + token + b"\r\n")
    if body is not None:
        head += (b"Content-Type: application/json\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\n")
    writer.write(head + b"\r\n" + (body or b""))
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    status_line, _, rest = response.partition(b"\r\n")
    headers, _, payload = rest.partition(b"\r\n\r\n")
    if b"application/json" not in headers.lower():
        # aiohttp's own HTTP parser refuses some requests before Recobro
        # sees them, in plain text.
        return int(status_line.split()[1]), {"error": payload.decode(errors="replace")}
    return int(status_line.split()[1]), json.loads(payload) if payload else {}


async def test_odd_bytes_anywhere_are_a_400_naming_the_part(lab_config, fresh_database):
    settings = read_env_file(lab_config.env_file)
    token = settings["RECOBRO_API_TOKEN"].encode()
    env = cli_env(RECOBRO_ENV_FILE=str(lab_config.env_file), DATABASE_URL=fresh_database)
    url = api_url(lab_config)
    api = await start_api(lab_config, env)
    disposition = f"/attempts/{NO_ATTEMPT}/disposition".encode()
    # (method, target, body, what the error must say)
    cases = [
        ("POST", b"/agents/agent1001%00/login", None, "the path holds a NUL (U+0000)"),
        ("POST", b"/agents/agent1001%01/login", None, "the path holds a control character"),
        ("POST", b"/agents/agent1001%FF/login", None, "the path is not valid UTF-8"),
        # A raw byte outside ASCII in the request line: aiohttp's parser.
        ("POST", b"/agents/agent1001\xff/login", None, "Invalid char in url path"),
        ("POST", b"/agents/agent1001%ED%A0%80/login", None, "the path is not valid UTF-8"),
        ("GET", b"/agents?view=%00", None, "the query parameter 'view' holds a NUL"),
        ("GET", b"/agents?view=%C3", None, "the query parameter 'view' is not valid UTF-8"),
        ("GET", b"/agents?%FF=1", None, "a query parameter's name is not valid UTF-8"),
        ("GET", b"/agents?token=%00", None, "the query parameter 'token' holds a NUL"),
        ("POST", disposition, b'{"code": "PTP", "agent": "agent1001\\u0000"}',
         'the body\'s "agent" holds a NUL (U+0000)'),
        ("POST", disposition, b'{"code": "\\u0000", "agent": "agent1001"}',
         'the body\'s "code" holds a NUL'),
        ("POST", disposition, b'{"code": "PTP", "agent": "agent1001", "note": "\\u001b[2J"}',
         'the body\'s "note" holds a control character (U+001B)'),
        ("POST", disposition, b'{"code": "PTP", "agent": "a", "x": ["ok", "\\ud800"]}',
         'the body\'s "x"[1] holds a lone surrogate (U+D800)'),
        ("POST", disposition, b'{"code": "PTP", "agent\\u0000": "a"}',
         "a key in the body holds a NUL"),
        ("POST", disposition, b'{"code": "PTP", "agent": "agent1001\xff"}',
         "the body is not valid UTF-8 (byte 36 is 0xFF)"),
        ("POST", b"/agents/agent1001/pause", b'{"reason": "lunch\\u0000"}',
         'the body\'s "reason" holds a NUL'),
    ]
    try:
        for method, target, body, words in cases:
            status, answer = await send(url, method, target, token=token, body=body)
            assert status == 400, (target, body, status, answer)
            assert words in answer["error"], (target, body, answer)
            assert token.decode() not in answer["error"]
        # Line breaks and tabs are text a note may hold: the request goes on
        # to the handler (there is no such attempt).
        status, answer = await send(
            url, "POST", disposition, token=token,
            body=b'{"code": "PTP", "agent": "agent1001", "note": "one\\ntwo\\tthree"}')
        assert (status, answer["error"]) == (404, f"no attempt {NO_ATTEMPT}")
        # A token that is not UTF-8 is a wrong token, not a server error.
        status, answer = await send(url, "GET", b"/agents", token=b"\xff\xfe")
        assert status == 401, answer
        status, answer = await send(url, "GET", b"/agents", token=token)
        assert status == 200 and {a["endpoint"] for a in answer} >= {"agent1001"}
    finally:
        api.terminate()
        await api.wait()
    assert b"Traceback" not in await api.stderr.read()
