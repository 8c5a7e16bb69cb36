"""The bank channel over HTTP (SPEC section 14; docs/bank-protocol.md).

``HttpBank`` implements ``domain.bank.BankChannel``. It signs every request, checks the
signature of every answer and validates it; whatever leaves the outcome unknown (a
timeout, a connection error, a 5xx, an answer that is unsigned, badly signed,
unreadable or fails validation) makes the debits ``pending``, never ``failed``: the
money may have moved, and ``reconcile`` asks again. Each refusal is logged with its
cause. A 4xx other than 408/429 is a configuration error (``BankRefused``), raised.

One ``httpx.Client`` per process (``adapters.http_client``, made again after a fork), so
connections are reused. Each debit goes to the card its intent names (``card_token``,
the platform's token of the user's linked card); the adapter never makes one up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

import httpx
from pydantic import ValidationError

from adapters.bank_wire import (
    MAX_BATCH,
    SIGNATURE_HEADER,
    DebitsBody,
    Envelope,
    QueryBody,
    WireDebit,
    WireResult,
    sign,
    signature_ok,
)
from adapters.http_client import DEFAULT_TIMEOUTS, ProcessClient, Timeouts
from domain.bank import (
    DEBITED,
    FAILED,
    PENDING,
    UNKNOWN,
    BankRefused,
    DebitRequest,
    DebitResult,
)

log = logging.getLogger("creditcycle.bank")

TRANSIENT_4XX = frozenset({408, 429})


class HttpBank:
    """The bank at ``url`` (``POST {url}/debits``, ``POST {url}/debits/query``)."""

    def __init__(self, url: str, secret: str | bytes, *,
                 timeouts: Timeouts = DEFAULT_TIMEOUTS, batch_size: int = MAX_BATCH,
                 transport: httpx.BaseTransport | None = None,
                 observe: Callable[[str, str, float], None] | None = None) -> None:
        """``observe(path, outcome, seconds)``, when given, is called after every call
        (outcome ``ok``, ``pending`` or ``refused``), e.g. to feed a metric."""
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"bank_url: must start with http:// or https://, got {url!r}")
        if not secret:
            raise ValueError("bank_secret: must not be empty")
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size: must be 1..{MAX_BATCH}")
        self.url = url.rstrip("/")
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.timeouts = timeouts
        self.batch_size = batch_size
        self._observe = observe
        self._http = ProcessClient(timeouts, transport)

    # ------------------------------------------------------------------ protocol
    def debit(self, requests: Sequence[DebitRequest]) -> list[DebitResult]:
        unique: dict[str, DebitRequest] = {}
        for r in requests:
            if not r.card_token:  # the step never makes one: a caller's bug, never guessed
                raise ValueError(f"debit {r.key!r}: no card_token (the user has no linked "
                                 "card and must not be sent to the bank)")
            unique.setdefault(r.key, r)
        found: dict[str, DebitResult] = {}
        todo = list(unique.values())
        for i in range(0, len(todo), self.batch_size):
            part = todo[i:i + self.batch_size]
            body = DebitsBody(requests=[WireDebit(
                key=r.key, card_token=r.card_token, amount=r.amount,
                business_date=r.day) for r in part])
            amounts = {r.key: r.amount for r in part}
            found.update(self._call("/debits", body.model_dump_json().encode(), amounts))
        return [found[r.key] for r in requests]

    def query(self, keys: Sequence[str]) -> list[DebitResult]:
        unique = list(dict.fromkeys(keys))
        found: dict[str, DebitResult] = {}
        for i in range(0, len(unique), self.batch_size):
            part = unique[i:i + self.batch_size]
            body = QueryBody(keys=part).model_dump_json().encode()
            found.update(self._call("/debits/query", body, dict.fromkeys(part)))
        return [found[k] for k in keys]

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ transport
    def _call(self, path: str, body: bytes,
              asked: Mapping[str, int | None]) -> dict[str, DebitResult]:
        """The results of one call, one per key asked; ``asked`` maps each key to the
        amount requested (None for a query); timed for ``observe``."""
        if self._observe is None:
            return self._call_once(path, body, asked)
        started, outcome = time.perf_counter(), "refused"
        try:
            found = self._call_once(path, body, asked)
            outcome = "pending" if any(r.status == PENDING for r in found.values()) else "ok"
            return found
        finally:
            self._observe(path, outcome, time.perf_counter() - started)

    def _call_once(self, path: str, body: bytes,
                   asked: Mapping[str, int | None]) -> dict[str, DebitResult]:
        try:
            answer = self._http.get().post(self.url + path, content=body, headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(self.secret, body)})
        except httpx.TimeoutException as exc:
            return self._unknown(asked, path, f"timeout ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return self._unknown(asked, path, f"connection error ({type(exc).__name__}: {exc})")
        code = answer.status_code
        if 400 <= code < 500 and code not in TRANSIENT_4XX:
            log.error("bank %s refused the call with HTTP %s: check bank_url and the bank "
                      "secret (%s keys, outcome unknown)", path, code, len(asked))
            raise BankRefused(f"bank {path} answered HTTP {code}: check bank_url and the "
                              "bank secret")
        if code != 200:
            return self._unknown(asked, path, f"HTTP {code}")
        if not signature_ok(self.secret, answer.content, answer.headers.get(SIGNATURE_HEADER)):
            return self._unknown(asked, path, "answer unsigned or badly signed")
        return self._read(path, answer.content, asked)

    def _unknown(self, asked: Mapping[str, int | None], path: str,
                 cause: str) -> dict[str, DebitResult]:
        log.warning("bank %s: %s; %s debits left pending", path, cause, len(asked))
        return {k: DebitResult(k, PENDING) for k in asked}

    def _read(self, path: str, content: bytes,
              asked: Mapping[str, int | None]) -> dict[str, DebitResult]:
        try:
            envelope = Envelope.model_validate_json(content)
        except ValidationError as exc:
            return self._unknown(asked, path, f"unreadable answer: {_first_error(exc)}")
        is_query = path.endswith("/query")
        found: dict[str, DebitResult] = {}
        refused: set[str] = set()
        for n, item in enumerate(envelope.results):
            key = item.get("key") if isinstance(item, dict) else None
            if not isinstance(key, str):
                # A result that names no key might be about any of them: trust none.
                return self._unknown(asked, path, f"results[{n}] has no readable key")
            if key not in asked:
                log.error("bank %s: results[%s] is for key %r, which was not asked; ignored",
                          path, n, key)
                continue
            if key in found or key in refused:
                log.error("bank %s: key %r answered twice; left pending", path, key)
                refused.add(key)
                continue
            try:
                res = WireResult.model_validate(item)
            except ValidationError as exc:
                log.error("bank %s: results[%s] (key %r) refused: %s; left pending",
                          path, n, key, _first_error(exc))
                refused.add(key)
                continue
            defect = _defect(res, asked[key], is_query)
            if defect:
                log.error("bank %s: results[%s] (key %r) refused: %s; left pending",
                          path, n, key, defect)
                refused.add(key)
                continue
            found[key] = DebitResult(res.key, res.status, res.taken, res.reason)
        missing = [k for k in asked if k not in found and k not in refused]
        if missing:
            log.error("bank %s: no result for %s keys (first %r); left pending", path,
                      len(missing), missing[0])
        return {k: found[k] if k in found and k not in refused else DebitResult(k, PENDING)
                for k in asked}


def _defect(res: WireResult, amount: int | None, is_query: bool) -> str | None:
    """What is wrong with a well-formed result, or None."""
    if res.status == DEBITED:
        if res.reason is not None:
            return "a debited result carries a reason"
        if res.taken < 1:
            return "a debited result took nothing"
        if amount is not None and res.taken > amount:
            return f"taken {res.taken} is above the {amount} requested"
        return None
    if res.status == FAILED:
        if res.reason is None:
            return "a failed result has no reason"
        return "a failed result took money" if res.taken else None
    if res.status == UNKNOWN and not is_query:
        return "unknown answered to a debit"
    if res.reason is not None or res.taken:
        return f"a {res.status} result carries a reason or an amount"
    return None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{where}: {err['msg']}"[:300]


__all__ = ["HttpBank", "Timeouts"]
