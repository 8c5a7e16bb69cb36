"""A reference receiver for the https sink (docs/outbox-sinks.md), for demos and drills.

    python -m adapters.sink_receiver --host 127.0.0.1 --port 8900 --dir D --secret S

``POST`` to any path (but ``/admin/...`` and ``/health``): the signature is checked
(401), the ``Idempotency-Key`` header and the batch body are validated and must agree
(400); the batch is written to D exactly as the file sink writes it
(``D/<outbox dir>/<key>.json``, whole, then renamed). A key it holds already is dropped
and answered ``200 {"duplicate": true}``; the same key with other content is ``409``.
Files are the memory: a restarted receiver still drops the copies.

Faults: ``--down-for S`` (answers 503 for S seconds from start), ``--slow-ms MS`` and
``--slow-for S`` (writes the batch, then waits MS before answering: a client that gives
up sends it again, and meets a duplicate), or ``PUT /admin/mode`` {"down_for"?,
"slow_ms"?, "slow_for"?} (``slow_for`` null: until changed). ``GET /admin/mode``,
``GET /admin/stats`` (accepted, duplicates, conflicts, refused, down). The admin calls
are signed like the batches (a GET signs the empty body); ``GET /health`` is open.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import httpx
import tornado.httpserver
import tornado.netutil
import tornado.web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.child import ChildServer, serve_until_stopped
from adapters.signing import SIGNATURE_HEADER, sign, signature_ok
from adapters.sinks import IDEMPOTENCY_HEADER, KeyConflict, write_batch_file
from domain.outbox import decode_batch, key_problem

log = logging.getLogger("creditcycle.sink_receiver")

BANNER = "sink-receiver listening on "
Seconds = Annotated[float, Field(ge=0, le=86400)]


class ModeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    down_for: Seconds | None = None
    slow_ms: Annotated[int, Field(ge=0, le=600_000)] | None = None
    slow_for: Seconds | None = None


class Receiver:
    """The state one receiver process serves (used from its one IOLoop thread)."""

    def __init__(self, root: Path, secret: bytes) -> None:
        self.root = root
        self.secret = secret
        self.down_until = 0.0
        self.slow_ms = 0
        self.slow_until: float | None = None  # None: slow (if slow_ms) until changed
        self.counts: Counter[str] = Counter()

    def set_mode(self, update: ModeUpdate, given: set[str]) -> None:
        now = time.monotonic()
        if update.down_for is not None:
            self.down_until = now + update.down_for
        if update.slow_ms is not None:
            self.slow_ms = update.slow_ms
        if "slow_for" in given:
            self.slow_until = None if update.slow_for is None else now + update.slow_for

    def down(self) -> bool:
        return time.monotonic() < self.down_until

    def delay(self) -> float:
        if not self.slow_ms or (self.slow_until is not None
                                and time.monotonic() >= self.slow_until):
            return 0.0
        return self.slow_ms / 1000

    def mode(self) -> dict[str, Any]:
        now = time.monotonic()
        return {"down": self.down(), "down_left": max(0.0, self.down_until - now),
                "slow_ms": self.slow_ms, "slow": self.delay() > 0,
                "slow_left": None if self.slow_until is None
                else max(0.0, self.slow_until - now)}


class _Handler(tornado.web.RequestHandler):
    receiver: Receiver

    def initialize(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def check_xsrf_cookie(self) -> None:  # signed bodies, no cookies
        return

    def signed(self) -> bool:
        if signature_ok(self.receiver.secret, self.request.body,
                        self.request.headers.get(SIGNATURE_HEADER)):
            return True
        self.receiver.counts["refused"] += 1
        self.answer(401, {"error": f"missing or bad {SIGNATURE_HEADER}"})
        return False

    def answer(self, code: int, payload: Any) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        self.set_status(code)
        self.set_header("Content-Type", "application/json")
        self.set_header(SIGNATURE_HEADER, sign(self.receiver.secret, body))
        self.finish(body)


class BatchHandler(_Handler):
    async def post(self, path: str) -> None:
        r = self.receiver
        if r.down():
            r.counts["down"] += 1
            self.set_header("Retry-After", "1")
            self.answer(503, {"error": "receiver down (simulated)"})
            return
        if not self.signed():
            return
        key = self.request.headers.get(IDEMPOTENCY_HEADER)
        problem = key_problem(key) if key is not None else "missing"
        try:
            if problem:
                raise ValueError(f"{IDEMPOTENCY_HEADER}: {problem}")
            batch = decode_batch(self.request.body)
            if batch.key != key:
                raise ValueError(f"key: the body's key {batch.key!r} is not the "
                                 f"{IDEMPOTENCY_HEADER} {key!r}")
        except ValueError as exc:
            r.counts["refused"] += 1
            log.warning("refused a batch on /%s: %s", path, exc)
            self.answer(400, {"error": str(exc)})
            return
        try:
            duplicate = write_batch_file(r.root, batch)
        except KeyConflict as exc:
            r.counts["conflicts"] += 1
            log.error("%s", exc)
            self.answer(409, {"error": str(exc)})
            return
        except OSError as exc:
            log.error("cannot store %s batch %s: %s", batch.outbox, batch.key, exc)
            self.answer(503, {"error": f"cannot store the batch: {exc}"})
            return
        r.counts["duplicates" if duplicate else "accepted"] += 1
        wait = r.delay()
        if wait:
            await asyncio.sleep(wait)  # stored; the answer comes late
        self.answer(200, {"key": batch.key, "duplicate": duplicate,
                          "rows": len(batch.rows)})


class ModeHandler(_Handler):
    def get(self) -> None:
        if self.signed():
            self.answer(200, self.receiver.mode())

    def put(self) -> None:
        if not self.signed():
            return
        try:
            update = ModeUpdate.model_validate_json(self.request.body or b"{}")
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"]) or "body"
            self.answer(400, {"error": f"{where}: {err['msg']}"})
            return
        self.receiver.set_mode(update, set(update.model_fields_set))
        log.info("mode now %s", self.receiver.mode())
        self.answer(200, self.receiver.mode())


class StatsHandler(_Handler):
    def get(self) -> None:
        if self.signed():
            counts = self.receiver.counts
            self.answer(200, {k: counts[k] for k in
                              ("accepted", "duplicates", "conflicts", "refused", "down")})


class HealthHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.finish({"ok": True})


def make_app(receiver: Receiver) -> tornado.web.Application:
    kw = {"receiver": receiver}
    return tornado.web.Application([
        (r"/health", HealthHandler),
        (r"/admin/mode", ModeHandler, kw),
        (r"/admin/stats", StatsHandler, kw),
        (r"/(?!admin/)(.*)", BatchHandler, kw),
    ])


class ReceiverAdmin:
    """Signed calls to a receiver's admin endpoints (for drills, demos and tests)."""

    def __init__(self, url: str, secret: str | bytes) -> None:
        self.url = url.rstrip("/")
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.http = httpx.Client(timeout=30)

    def _do(self, method: str, path: str, payload: Any = None) -> dict[str, Any]:
        body = b"" if payload is None else json.dumps(payload).encode()
        r = self.http.request(method, self.url + path, content=body,
                              headers={SIGNATURE_HEADER: sign(self.secret, body)})
        r.raise_for_status()
        return dict(r.json())

    def set_mode(self, **mode: Any) -> dict[str, Any]:
        return self._do("PUT", "/admin/mode", mode)

    def mode(self) -> dict[str, Any]:
        return self._do("GET", "/admin/mode")

    def stats(self) -> dict[str, int]:
        return {k: int(v) for k, v in self._do("GET", "/admin/stats").items()}

    def close(self) -> None:
        self.http.close()


class ReceiverProcess(ChildServer):
    """``python -m adapters.sink_receiver`` as a child process on a free port (or
    ``port``)."""

    banner = BANNER

    def __init__(self, root: str, secret: str, *, host: str = "127.0.0.1", port: int = 0,
                 down_for: float = 0, slow_ms: int = 0, slow_for: float | None = None,
                 log_path: str | None = None) -> None:
        super().__init__(host, port,
                         log_path or str(Path(root).with_suffix(".receiver.log")))
        self.root, self.secret = root, secret
        self.down_for, self.slow_ms, self.slow_for = down_for, slow_ms, slow_for

    def command(self) -> list[str]:
        """The receiver's command line."""
        cmd = [sys.executable, "-m", "adapters.sink_receiver", "--host", self.host,
               "--port", str(self.port), "--dir", self.root, "--secret", self.secret,
               "--down-for", str(self.down_for), "--slow-ms", str(self.slow_ms)]
        if self.slow_for is not None:
            cmd += ["--slow-for", str(self.slow_for)]
        return cmd


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"SINK_RECEIVER_{name.upper()}", default)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m adapters.sink_receiver",
                                description="A reference receiver for the https outbox "
                                            "sink (docs/outbox-sinks.md).")
    p.add_argument("--host", default=_env("host", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(_env("port", "8900") or 8900))
    p.add_argument("--dir", default=_env("dir"),
                   help="where accepted batches are written (SINK_RECEIVER_DIR)")
    p.add_argument("--secret", default=_env("secret"),
                   help="the sink secret that signs batches (SINK_RECEIVER_SECRET)")
    p.add_argument("--down-for", type=float, default=0.0,
                   help="answer 503 for this many seconds from start")
    p.add_argument("--slow-ms", type=int, default=0,
                   help="store each batch, then wait this long before answering")
    p.add_argument("--slow-for", type=float, default=None,
                   help="be slow for this many seconds from start (default: always)")
    p.add_argument("--max-body-mb", type=int, default=512)
    args = p.parse_args(argv)
    if not args.dir:
        p.error("--dir (or SINK_RECEIVER_DIR) is required")
    if not args.secret:
        p.error("--secret (or SINK_RECEIVER_SECRET) is required")
    if Path(args.dir).exists() and not Path(args.dir).is_dir():
        p.error(f"--dir: {args.dir} exists and is not a directory")
    if not 1 <= args.max_body_mb <= 4096:
        p.error("--max-body-mb: must be 1..4096")
    try:
        args.mode = ModeUpdate(down_for=args.down_for, slow_ms=args.slow_ms,
                               slow_for=args.slow_for)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        p.error(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}")
    return args


async def serve(args: argparse.Namespace) -> None:
    root = Path(args.dir).absolute()
    root.mkdir(parents=True, exist_ok=True)
    receiver = Receiver(root, args.secret.encode())
    receiver.set_mode(args.mode, {"slow_for"} if args.slow_for is not None else set())
    await serve_until_stopped(make_app(receiver), args.host, args.port, BANNER,
                              max_body_size=args.max_body_mb * 2**20)
    log.info("stopping: %s", dict(receiver.counts))


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    args = parse_args(argv)
    try:
        asyncio.run(serve(args))
    except OSError as exc:
        print(f"sink-receiver: cannot listen on {args.host}:{args.port} or use --dir "
              f"{args.dir}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
