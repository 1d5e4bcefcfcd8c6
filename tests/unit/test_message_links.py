"""Payment links (issue 15): signed with HMAC-SHA256 in the documented
format, so a verifier written from docs/messages.md alone agrees; expiring;
naming the account only by its opaque token; and their QR code decodes to
the link."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import zxingcpp
from PIL import Image

from dialer.messages.links import LinkError, Purpose, qr_png, sign_link, verify_link

KEY = "k" * 20 + "EY-for-tests-only-0123"  # 42 characters
BASE = "https://pay.example.com/p"
TOKEN = "Qm9uZ2lvcm5vLXRva2Vu"
NOW = datetime(2027, 1, 2, 12, 0, tzinfo=UTC)


def link(purpose: Purpose = Purpose.PAY, days: int = 7) -> str:
    return sign_link(BASE, KEY, TOKEN, purpose, NOW + timedelta(days=days))


def test_a_link_verifies_and_says_its_token_purpose_and_expiry() -> None:
    verified = verify_link(link(Purpose.PLAN), KEY, NOW)
    assert verified.token == TOKEN and verified.purpose is Purpose.PLAN
    assert verified.expires_at == NOW + timedelta(days=7)


def test_the_format_in_the_docs_is_what_is_signed() -> None:
    """A verifier written from the documented format alone (no Recobro code)."""
    url = link()
    assert url.startswith(BASE + "?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert set(query) == {"a", "p", "e", "s"}
    message = f"recobro-link-v1\n{query['a']}\n{query['p']}\n{query['e']}".encode()
    expected = base64.urlsafe_b64encode(
        hmac.new(KEY.encode(), message, hashlib.sha256).digest()).rstrip(b"=").decode()
    assert query["s"] == expected
    assert int(query["e"]) == int((NOW + timedelta(days=7)).timestamp())


def test_the_link_carries_nothing_but_the_token_purpose_expiry_and_signature() -> None:
    query = parse_qs(urlsplit(link()).query)
    assert query["a"] == [TOKEN] and query["p"] == ["pay"]


@pytest.mark.parametrize("change", [
    lambda q: q.replace("p=pay", "p=plan"),
    lambda q: q.replace(f"a={TOKEN}", "a=" + TOKEN[::-1]),
    lambda q: q.replace("e=", "e=1"),
    lambda q: q[:-1] + ("A" if q[-1] != "A" else "B"),
])
def test_a_changed_link_does_not_verify(change) -> None:
    with pytest.raises(LinkError, match="signature|malformed"):
        verify_link(change(link()), KEY, NOW)


def test_another_key_does_not_verify() -> None:
    with pytest.raises(LinkError, match="signature"):
        verify_link(link(), KEY + "x", NOW)


def test_an_expired_link_is_refused() -> None:
    url = link(days=1)
    assert verify_link(url, KEY, NOW + timedelta(hours=23))
    with pytest.raises(LinkError, match="expired"):
        verify_link(url, KEY, NOW + timedelta(days=1))


@pytest.mark.parametrize("query", ["", "a=x&p=pay&e=1", "a=x&a=y&p=pay&e=1&s=z",
                                   f"a={TOKEN}&p=refund&e=1&s=z"])
def test_a_malformed_link_is_refused_with_why(query: str) -> None:
    with pytest.raises(LinkError, match="exactly one|unknown purpose"):
        verify_link(f"{BASE}?{query}", KEY, NOW)


def test_a_short_key_or_a_bad_token_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        sign_link(BASE, "short", TOKEN, Purpose.PAY, NOW)
    with pytest.raises(ValueError, match="account token"):
        sign_link(BASE, KEY, "has space in it!!", Purpose.PAY, NOW)


def test_the_qr_code_is_a_png_that_decodes_to_the_link() -> None:
    url = link()
    png = qr_png(url)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert [(d.format, d.text) for d in decoded] == [(zxingcpp.BarcodeFormat.QRCode, url)]
    assert verify_link(decoded[0].text, KEY, NOW).token == TOKEN
