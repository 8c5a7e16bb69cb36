"""The bank simulator: the bank protocol (docs/bank-protocol.md) as a process of its own.

    python -m adapters.bank_sim --host 127.0.0.1 --port 8800 --db bank.sqlite --secret S

Its store is its own SQLite file (WAL): cards (balance, a failure) and debits (the first
outcome of each key: the bank's ledger). A key is applied exactly once: a batch is
applied in one ``BEGIN IMMEDIATE`` transaction with no await inside, so duplicates sent
concurrently (to this process or another one on the same file) meet the first outcome.

Faults (flags, ``BANK_SIM_*`` environment variables or ``PUT /admin/faults``):
``latency_ms`` before every answer; ``timeout_rate``: the call hangs ``hang_seconds`` and
is not applied (the bank lost it: a query says unknown); ``error_rate``: HTTP 503, not
applied; ``late_rate``: the debits ARE applied, the answer comes ``hang_seconds`` late
(past the client's read timeout: the client sees pending, a query says debited);
``faults_on`` (both, debits, query) says which calls meet those three;
``partial_rate``: a debit takes only part of what it could. A card can be set to fail
(``card_invalid`` or ``outage``). The draws are deterministic: a function of ``seed``,
the request body and how many times that same body came (a debit's partial draw: of
the seed and its key).

Admin endpoints (signed like the protocol; a GET signs the empty body):
``PUT /admin/cards`` {token: {"balance"?, "deposit"?, "fail"?}}, ``GET /admin/cards/{token}``,
``GET /admin/ledger`` (every debit; ``?card_token=`` filters), ``GET|PUT /admin/faults``,
``GET /admin/stats`` (faults injected so far). ``GET /health`` is open.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx
import tornado.httpserver
import tornado.netutil
import tornado.web
from pydantic import ValidationError

from adapters.bank_sim_store import CardsBody, Faults, Store, draw
from adapters.bank_wire import (
    SIGNATURE_HEADER,
    DebitsBody,
    QueryBody,
    sign,
    signature_ok,
)
from adapters.child import ChildServer, serve_until_stopped

log = logging.getLogger("creditcycle.bank_sim")

class Bank:
    """The state one simulator process serves."""

    def __init__(self, store: Store, secret: bytes, faults: Faults) -> None:
        self.store = store
        self.secret = secret
        self.faults = faults
        self.seen: Counter[str] = Counter()

    def transport_fault(self, path: str, body: bytes) -> str | None:
        """The fault this call meets: timeout, error, late or None."""
        f = self.faults
        if f.faults_on != "both" and (f.faults_on == "query") != path.endswith("query"):
            return None
        digest = hashlib.sha256(body).hexdigest()
        self.seen[digest] += 1
        n = str(self.seen[digest])
        for kind, rate in (("timeout", f.timeout_rate), ("error", f.error_rate),
                           ("late", f.late_rate)):
            if rate and draw(f.seed, kind, path, digest, n) < rate:
                self.store.count_fault(kind)
                return kind
        return None


class _Handler(tornado.web.RequestHandler):
    bank: Bank

    def initialize(self, bank: Bank) -> None:
        self.bank = bank

    def check_xsrf_cookie(self) -> None:  # an API of signed bodies, no cookies
        return

    def signed(self) -> bool:
        if signature_ok(self.bank.secret, self.request.body,
                        self.request.headers.get(SIGNATURE_HEADER)):
            return True
        self.answer(401, {"error": "missing or bad X-Signature"})
        return False

    def answer(self, code: int, payload: Any) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        self.set_status(code)
        self.set_header("Content-Type", "application/json")
        self.set_header(SIGNATURE_HEADER, sign(self.bank.secret, body))
        self.finish(body)

    def refuse(self, exc: ValidationError) -> None:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        self.answer(400, {"error": f"{where}: {err['msg']}"})


class DebitsHandler(_Handler):
    async def post(self) -> None:
        await self.serve("/debits")

    async def serve(self, path: str) -> None:
        if not self.signed():
            return
        body = self.request.body
        try:
            parsed: DebitsBody | QueryBody = (
                QueryBody.model_validate_json(body) if path.endswith("query")
                else DebitsBody.model_validate_json(body))
        except ValidationError as exc:
            self.refuse(exc)
            return
        bank = self.bank
        fault = bank.transport_fault(path, body)
        if bank.faults.latency_ms:
            await asyncio.sleep(bank.faults.latency_ms / 1000)
        if fault == "timeout":
            await asyncio.sleep(bank.faults.hang_seconds)  # lost: nothing applied
            self.answer(504, {"error": "simulated timeout"})
            return
        if fault == "error":
            self.answer(503, {"error": "simulated outage"})
            return
        # No await between reading the keys and committing: a duplicate waits its turn.
        results = (bank.store.query(parsed.keys) if isinstance(parsed, QueryBody)
                   else bank.store.debit(parsed.requests, bank.faults, fault == "late"))
        if fault == "late":
            await asyncio.sleep(bank.faults.hang_seconds)  # applied; the answer comes late
        self.answer(200, {"results": results})


class QueryHandler(DebitsHandler):
    async def post(self) -> None:
        await self.serve("/debits/query")


class CardsHandler(_Handler):
    def put(self, token: str | None = None) -> None:
        if not self.signed():
            return
        try:
            raw = json.loads(self.request.body or b"null")
            body = CardsBody.model_validate({"cards": raw})
        except (ValueError, ValidationError) as exc:
            if isinstance(exc, ValidationError):
                self.refuse(exc)
            else:
                self.answer(400, {"error": f"body: not JSON ({exc})"})
            return
        self.bank.store.set_cards(body.cards)
        self.answer(200, {"cards": len(body.cards)})

    def get(self, token: str | None = None) -> None:
        if not self.signed():
            return
        card = self.bank.store.card(token or "")
        if card is None:
            self.answer(404, {"error": f"no card {token!r}"})
        else:
            self.answer(200, card)


class LedgerHandler(_Handler):
    def get(self) -> None:
        if self.signed():
            self.answer(200, {"debits": self.bank.store.ledger(
                self.get_query_argument("card_token", None))})


class FaultsHandler(_Handler):
    def get(self) -> None:
        if self.signed():
            self.answer(200, self.bank.faults.model_dump())

    def put(self) -> None:
        if not self.signed():
            return
        try:
            update = json.loads(self.request.body or b"{}")
            if not isinstance(update, dict):
                raise ValueError("an object of faults expected")
            self.bank.faults = Faults.model_validate({**self.bank.faults.model_dump(),
                                                      **update})
        except ValidationError as exc:
            self.refuse(exc)
            return
        except ValueError as exc:
            self.answer(400, {"error": f"body: {exc}"})
            return
        log.info("faults now %s", self.bank.faults.model_dump())
        self.answer(200, self.bank.faults.model_dump())


class StatsHandler(_Handler):
    def get(self) -> None:
        if self.signed():
            self.answer(200, {"faults": self.bank.store.fault_counts()})


class HealthHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.finish({"ok": True})


def make_app(bank: Bank) -> tornado.web.Application:
    kw = {"bank": bank}
    return tornado.web.Application([
        (r"/debits", DebitsHandler, kw),
        (r"/debits/query", QueryHandler, kw),
        (r"/admin/cards", CardsHandler, kw),
        (r"/admin/cards/([A-Za-z0-9_.:\-]+)", CardsHandler, kw),
        (r"/admin/ledger", LedgerHandler, kw),
        (r"/admin/faults", FaultsHandler, kw),
        (r"/admin/stats", StatsHandler, kw),
        (r"/health", HealthHandler),
    ])


class SimAdmin:
    """Signed calls to a simulator's admin endpoints (for drills, demos and tests)."""

    def __init__(self, url: str, secret: str | bytes) -> None:
        self.url = url.rstrip("/")
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.http = httpx.Client(timeout=30)

    def _do(self, method: str, path: str, payload: Any = None) -> Any:
        body = b"" if payload is None else json.dumps(payload).encode()
        r = self.http.request(method, self.url + path, content=body,
                              headers={SIGNATURE_HEADER: sign(self.secret, body)})
        r.raise_for_status()
        return r.json()

    def set_cards(self, cards: dict[str, dict[str, Any]]) -> None:
        self._do("PUT", "/admin/cards", cards)

    def card(self, token: str) -> dict[str, Any]:
        return dict(self._do("GET", f"/admin/cards/{token}"))

    def ledger(self) -> list[dict[str, Any]]:
        return list(self._do("GET", "/admin/ledger")["debits"])

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        return dict(self._do("PUT", "/admin/faults", faults))

    def stats(self) -> dict[str, int]:
        return dict(self._do("GET", "/admin/stats")["faults"])

    def close(self) -> None:
        self.http.close()


class SimProcess(ChildServer):
    """``python -m adapters.bank_sim`` as a child process on a free port (or ``port``)."""

    banner = "bank-sim listening on "

    def __init__(self, db: str, secret: str, *, host: str = "127.0.0.1", port: int = 0,
                 faults: dict[str, Any] | None = None, log_path: str | None = None) -> None:
        super().__init__(host, port, log_path or db + ".log")
        self.db, self.secret = db, secret
        self.faults = faults or {}

    def command(self) -> list[str]:
        """The simulator's command line, faults as flags."""
        cmd = [sys.executable, "-m", "adapters.bank_sim", "--host", self.host,
               "--port", str(self.port), "--db", self.db, "--secret", self.secret]
        for name, value in self.faults.items():
            cmd += [f"--{name.replace('_', '-')}", str(value)]
        return cmd


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"BANK_SIM_{name.upper()}", default)


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Faults]:
    p = argparse.ArgumentParser(prog="python -m adapters.bank_sim",
                                description="The bank simulator (docs/bank-protocol.md).")
    p.add_argument("--host", default=_env("host", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(_env("port", "8800") or 8800))
    p.add_argument("--db", default=_env("db"), help="its SQLite file (BANK_SIM_DB)")
    p.add_argument("--secret", default=_env("secret"),
                   help="the bank secret that signs bodies (BANK_SIM_SECRET)")
    for name, field in Faults.model_fields.items():
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, default=_env(name),
                       help=f"fault (BANK_SIM_{name.upper()}, default {field.default})")
    args = p.parse_args(argv)
    if not args.db:
        p.error("--db (or BANK_SIM_DB) is required")
    if not args.secret:
        p.error("--secret (or BANK_SIM_SECRET) is required")
    given = {n: getattr(args, n) for n in Faults.model_fields if getattr(args, n) is not None}
    try:
        faults = Faults.model_validate(given)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        p.error(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}")
    return args, faults


async def serve(args: argparse.Namespace, faults: Faults) -> None:
    bank = Bank(Store(args.db), args.secret.encode(), faults)
    await serve_until_stopped(make_app(bank), args.host, args.port, SimProcess.banner)
    bank.store.db.close()


def main(argv: Sequence[str] | None = None) -> int:
    args, faults = parse_args(argv)
    return run(args, faults)


def run(args: argparse.Namespace, faults: Faults) -> int:
    """Serve ``args.host``/``args.port``/``args.db``/``args.secret`` until SIGTERM or SIGINT;
    1 when it cannot listen."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("tornado.access").setLevel(logging.WARNING)  # refusals only
    try:
        asyncio.run(serve(args, faults))
    except OSError as exc:
        print(f"bank-sim: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
