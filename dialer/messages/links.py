"""Payment links: a signed, expiring URL per account and purpose, and its
QR code. The link carries no card or account data: only an opaque account
token (random, kept in account_link_tokens), the purpose, the expiry and
an HMAC-SHA256 signature under a key shared with the page behind it.

The format (docs/messages.md), so that any service holding the key can
verify a link:

    {base}?a={token}&p={purpose}&e={expires}&s={signature}

    expires   = Unix time in seconds, decimal
    message   = "recobro-link-v1" "\\n" token "\\n" purpose "\\n" expires  (UTF-8)
    signature = base64url(HMAC-SHA256(key, message)), without '=' padding

The key is the UTF-8 bytes of the setting as written. A verifier compares
signatures in constant time and refuses a link whose expires has passed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from urllib.parse import parse_qs, urlencode, urlsplit

import segno

from dialer.limits import PAYMENT_LINK_KEY_LENGTH

FORMAT = "recobro-link-v1"
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 bytes, base64url, unpadded


class Purpose(Enum):
    """What the page behind a link lets the debtor do."""

    PAY = "pay"  # pay the balance (or what the page offers)
    PLAN = "plan"  # set up a plan of instalments
    UPDATE_CARD = "update_card"  # change the card a plan is charged to


class LinkError(ValueError):
    """A link that does not verify: the reason is in the message."""


@dataclass(frozen=True)
class VerifiedLink:
    token: str
    purpose: Purpose
    expires_at: datetime


def _signature(key: str, token: str, purpose: Purpose, expires: int) -> str:
    message = "\n".join((FORMAT, token, purpose.value, str(expires))).encode()
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def check_key(key: str) -> str:
    """The key when it is long enough to sign with; ValueError otherwise."""
    if len(key) < PAYMENT_LINK_KEY_LENGTH:
        raise ValueError(f"a link key is at least {PAYMENT_LINK_KEY_LENGTH} characters "
                         f"(this one has {len(key)})")
    return key


def sign_link(base_url: str, key: str, token: str, purpose: Purpose, expires_at: datetime
              ) -> str:
    """The signed URL of a link to the page at base_url for the account whose
    opaque token this is, valid until expires_at (aware; whole seconds)."""
    if not TOKEN.fullmatch(token):
        raise ValueError("an account token is 16 to 64 of A-Z a-z 0-9 _ -")
    expires = int(expires_at.timestamp())
    query = urlencode({"a": token, "p": purpose.value, "e": expires,
                       "s": _signature(check_key(key), token, purpose, expires)})
    return f"{base_url}?{query}"


def verify_link(url: str, key: str, now: datetime) -> VerifiedLink:
    """What a link signed under key says, if its signature holds and it has
    not expired at now; LinkError otherwise (which check failed)."""
    fields = parse_qs(urlsplit(url).query, keep_blank_values=True)
    values = {name: fields.get(name, [""]) for name in ("a", "p", "e", "s")}
    if any(len(v) != 1 or not v[0] for v in values.values()):
        raise LinkError("the link needs exactly one each of a, p, e and s")
    token, purpose_name, expires_text, signature = (values[n][0] for n in ("a", "p", "e", "s"))
    try:
        purpose = Purpose(purpose_name)
    except ValueError:
        raise LinkError(f"unknown purpose {purpose_name!r}") from None
    if not re.fullmatch(r"[0-9]{1,12}", expires_text) or not TOKEN.fullmatch(token):
        raise LinkError("the token or the expiry is malformed")
    if not _SIGNATURE.fullmatch(signature) or not hmac.compare_digest(
            signature, _signature(key, token, purpose, int(expires_text))):
        raise LinkError("the signature does not verify")
    expires_at = datetime.fromtimestamp(int(expires_text), tz=now.tzinfo)
    if now >= expires_at:
        raise LinkError(f"the link expired at {expires_at.isoformat()}")
    return VerifiedLink(token, purpose, expires_at)


def qr_png(url: str, scale: int = 4) -> bytes:
    """A PNG image of a QR code of url (error correction M, with a quiet
    zone), for an e-mail or a letter."""
    buffer = io.BytesIO()
    segno.make_qr(url, error="m").save(buffer, kind="png", scale=scale)
    return buffer.getvalue()
