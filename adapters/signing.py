"""Signed bodies, shared by the bank protocol and the outbox sinks (SPEC section 14).

Header ``X-Signature`` = hex HMAC-SHA256 of the raw body bytes with the deployment's
secret (the bank's or the sink's). A GET signs the empty body.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

SIGNATURE_HEADER: Final = "X-Signature"


def sign(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_ok(secret: bytes, body: bytes, signature: str | None) -> bool:
    if not signature:
        return False
    return hmac.compare_digest(sign(secret, body), signature.strip().lower())
