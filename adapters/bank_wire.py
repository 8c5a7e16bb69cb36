"""The bank protocol's wire format (docs/bank-protocol.md), shared by client and simulator.

Bodies are JSON; each is signed: header ``X-Signature`` = hex HMAC-SHA256 of the raw
body bytes with the deployment's bank secret (the helpers live in adapters/signing.py,
shared with the outbox sinks, and are re-exported here). The models are strict (no extra keys,
no coercion), so a body either is exactly the protocol or is refused.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from adapters.signing import SIGNATURE_HEADER, sign, signature_ok
from domain.bank import FAILURE_REASONS

MAX_BATCH: Final = 1000
MAX_AMOUNT: Final = 10**13

Key = Annotated[str, StringConstraints(min_length=1, max_length=200,
                                       pattern=r"^[A-Za-z0-9_.:\-]+$")]
CardToken = Annotated[str, StringConstraints(min_length=1, max_length=128,
                                             pattern=r"^[A-Za-z0-9_.:\-]+$")]
Amount = Annotated[int, Field(gt=0, le=MAX_AMOUNT)]
Taken = Annotated[int, Field(ge=0, le=MAX_AMOUNT)]
Status = Literal["debited", "failed", "pending", "unknown"]
Reason = Literal["insufficient_funds", "card_invalid", "outage"]
if set(get_args(Reason)) != set(FAILURE_REASONS):
    raise AssertionError("the wire's failure reasons differ from domain.bank's")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class WireDebit(_Strict):
    key: Key
    card_token: CardToken
    amount: Amount
    business_date: date


class DebitsBody(_Strict):
    requests: Annotated[list[WireDebit], Field(min_length=1, max_length=MAX_BATCH)]


class QueryBody(_Strict):
    keys: Annotated[list[Key], Field(min_length=1, max_length=MAX_BATCH)]


class WireResult(_Strict):
    key: Key
    status: Status
    taken: Taken
    reason: Reason | None


class Envelope(_Strict):
    """An answer's outer shape; each result is validated on its own (WireResult)."""

    results: list[Any]


__all__ = ["MAX_AMOUNT", "MAX_BATCH", "SIGNATURE_HEADER", "Amount", "CardToken", "DebitsBody",
           "Envelope", "Key", "QueryBody", "Reason", "Status", "Taken", "WireDebit",
           "WireResult", "sign", "signature_ok"]
