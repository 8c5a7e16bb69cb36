"""Outbox sinks chosen by URL (SPEC section 14; docs/outbox-sinks.md).

``sink_for(url, secret)`` gives the ``domain.outbox.Sink`` for a URL:

- ``https://host[:port]/path`` (``http://`` only to 127.0.0.1, ::1 or localhost, for
  tests and demos): ``HttpsSink`` POSTs the batch's canonical JSON body, signed
  (``X-Signature``, adapters/signing.py) with an ``Idempotency-Key`` header. A 2xx is an
  acknowledgement; a timeout, a connection error, a 5xx, 408 or 429 a retryable
  failure; any other answer (4xx, 3xx: redirects are not followed) a permanent one.
  One ``httpx.Client`` per sink and process (``adapters.http_client``, made again after
  a fork).
- ``file://DIR``: ``FileSink`` writes each batch whole to
  ``DIR/<outbox dir>/<key>.json`` under a hidden temporary name, fsyncs it, renames it
  (``os.replace``) and fsyncs the directory: a reader never sees a partial file, and a
  batch delivered again under its key finds its file and is a duplicate.

A bad URL or a missing secret raises ``BadSinkConfig`` naming the field.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import httpx

from adapters.http_client import DEFAULT_TIMEOUTS, ProcessClient, Timeouts
from adapters.signing import SIGNATURE_HEADER, sign
from domain.outbox import AGENCY_PREFIX, Acknowledged, Batch, Delivery, DeliveryFailed, Sink

log = logging.getLogger("creditcycle.sinks")

IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})
TRANSIENT_4XX: Final = frozenset({408, 429})
FILE_MODE: Final = 0o640
MAX_SEGMENT_BYTES: Final = 200


class BadSinkConfig(ValueError):
    """A sink URL or secret that cannot work; the message names the field."""


class KeyConflict(Exception):
    """A key already delivered with other content: the relay broke its promise that a
    key always carries the same rows. Never overwritten, never hidden."""


# ---------------------------------------------------------------------- the factory
def sink_for(url: str, secret: str | bytes | None, *, field: str = "sink_url",
             secret_field: str = "sink_secret",  # noqa: S107 - a field name, not a secret
             timeouts: Timeouts = DEFAULT_TIMEOUTS,
             transport: httpx.BaseTransport | None = None) -> Sink:
    """The sink for ``url``; ``field``/``secret_field`` name the configuration keys in
    errors. ``secret`` signs https batches (unused by ``file://``)."""
    if not isinstance(url, str) or not url:
        raise BadSinkConfig(f"{field}: a sink URL is needed (https://... or file://DIR)")
    if url != url.strip() or any(c.isspace() or ord(c) < 32 for c in url):
        raise BadSinkConfig(f"{field}: {_shown(url)!r} holds spaces or control characters")
    if url[:7].lower() == "file://":
        return FileSink(url, _file_dir(url, field))
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise BadSinkConfig(f"{field}: {_shown(url)!r} is not a sink URL: use https://host/..., "
                            "file://DIR, or http:// to 127.0.0.1/localhost (tests, demos)")
    try:
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        raise BadSinkConfig(f"{field}: {_shown(url)!r} has a bad port") from None
    if not parts.hostname:
        raise BadSinkConfig(f"{field}: {_shown(url)!r} names no host")
    if parts.username is not None or parts.password is not None:
        raise BadSinkConfig(f"{field}: {_shown(url)!r} must not carry a user or password "
                            f"(batches are signed with {secret_field})")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise BadSinkConfig(f"{field}: {_shown(url)!r}: plain http:// is allowed only to "
                            "127.0.0.1, ::1 or localhost; use https://")
    if not secret:
        raise BadSinkConfig(f"{secret_field}: must not be empty for {field}={_shown(url)!r}")
    key = secret.encode() if isinstance(secret, str) else secret
    return HttpsSink(url, key, timeouts=timeouts, transport=transport)


def _shown(url: str) -> str:
    """``url`` without its user and password, for messages."""
    head, sep, rest = url.partition("://")
    if not sep:
        return url[:200]
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    return (head + sep + netloc + slash + path)[:200]


def _file_dir(url: str, field: str) -> Path:
    text = url[len("file://"):]
    if not text:
        raise BadSinkConfig(f"{field}: {url!r} names no directory: use file:///abs/dir or "
                            "file://relative/dir")
    root = Path(text).absolute()
    if root.exists() and not root.is_dir():
        raise BadSinkConfig(f"{field}: {url!r}: {root} exists and is not a directory")
    return root


# ---------------------------------------------------------------------- https
class HttpsSink:
    """POST of each batch to ``url``, signed, with its idempotency key."""

    def __init__(self, url: str, secret: bytes, *, timeouts: Timeouts = DEFAULT_TIMEOUTS,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._url = url
        self.secret = secret
        self.timeouts = timeouts
        self._http = ProcessClient(timeouts, transport)

    @property
    def url(self) -> str:
        return self._url

    def deliver(self, batch: Batch) -> Delivery:
        body = batch.body
        try:
            answer = self._http.get().post(self._url, content=body, headers={
                "Content-Type": "application/json; charset=utf-8",
                SIGNATURE_HEADER: sign(self.secret, body),
                IDEMPOTENCY_HEADER: batch.key})
        except httpx.TimeoutException as exc:
            return self._failed(batch, True, f"timeout ({type(exc).__name__})")
        except httpx.RequestError as exc:
            return self._failed(batch, True, f"connection error ({type(exc).__name__}: {exc})")
        code = answer.status_code
        if 200 <= code < 300:
            return Acknowledged(batch.key, duplicate=_says_duplicate(answer))
        cause = f"HTTP {code}" + (f": {answer.text[:200]}" if answer.content else "")
        if code >= 500 or code in TRANSIENT_4XX:
            return self._failed(batch, True, cause, _retry_after(answer))
        return self._failed(batch, False, cause)

    def _failed(self, batch: Batch, retryable: bool, cause: str,
                retry_after: float | None = None) -> DeliveryFailed:
        level = logging.WARNING if retryable else logging.ERROR
        log.log(level, "sink %s: %s batch %s (%s rows) not delivered, %s: %s", self._url,
                batch.outbox, batch.key, len(batch.rows),
                "will retry" if retryable else "refused", cause)
        return DeliveryFailed(batch.key, retryable, cause, retry_after)

    def close(self) -> None:
        self._http.close()


def _says_duplicate(answer: httpx.Response) -> bool:
    """A receiver may say it had the key already (``{"duplicate": true}``); any other
    body is a plain acknowledgement."""
    try:
        payload = answer.json()
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("duplicate") is True


def _retry_after(answer: httpx.Response) -> float | None:
    try:
        seconds = float(answer.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return seconds if 0 <= seconds <= 86400 else None


# ---------------------------------------------------------------------- file
class FileSink:
    """Each batch as one whole file under ``root`` (``batch_path``)."""

    def __init__(self, url: str, root: Path) -> None:
        self._url = url
        self.root = root

    @property
    def url(self) -> str:
        return self._url

    def deliver(self, batch: Batch) -> Delivery:
        try:
            duplicate = write_batch_file(self.root, batch)
        except KeyConflict as exc:
            log.error("sink %s: %s", self._url, exc)
            return DeliveryFailed(batch.key, False, str(exc))
        except OSError as exc:
            cause = f"cannot write {batch_path(self.root, batch.outbox, batch.key)}: {exc}"
            log.warning("sink %s: %s batch %s not delivered, will retry: %s", self._url,
                        batch.outbox, batch.key, cause)
            return DeliveryFailed(batch.key, True, cause)
        return Acknowledged(batch.key, duplicate=duplicate)

    def close(self) -> None:
        return


def outbox_dir(outbox: str) -> Path:
    """``notifications``, ``bureau``, ``bureau_file``, or ``agency/<name>`` with ``/``,
    ``\\``, ``%`` and a leading ``.`` of the name written as ``%XX``."""
    if not outbox.startswith(AGENCY_PREFIX):
        return Path(outbox)
    name = outbox[len(AGENCY_PREFIX):]
    seg = "".join(f"%{ord(c):02X}" if c in "/\\%" else c for c in name)
    if seg.startswith("."):
        seg = "%2E" + seg[1:]
    if len(seg.encode()) > MAX_SEGMENT_BYTES:  # a file name holds 255 bytes
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        seg = seg.encode()[:MAX_SEGMENT_BYTES - 17].decode(errors="ignore") + "~" + digest
    return Path("agency") / seg


def batch_path(root: Path, outbox: str, key: str) -> Path:
    return root / outbox_dir(outbox) / f"{key}.json"


def write_batch_file(root: Path, batch: Batch) -> bool:
    """Write ``batch.body`` to its path, whole or not at all; True if the file was there
    already with the same content (nothing written). ``KeyConflict`` if it was there
    with other content; ``OSError`` if it cannot be written (no partial file stays)."""
    path = batch_path(root, batch.outbox, batch.key)
    try:
        existing: bytes | None = path.read_bytes()
    except FileNotFoundError:
        existing = None
    if existing is not None:
        if existing == batch.body:
            return True
        raise KeyConflict(f"{batch.outbox} key {batch.key} was delivered before with other "
                          f"content ({path}); kept the first, refused this one")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    renamed = False
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), FILE_MODE)
            f.write(batch.body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        renamed = True
    finally:
        if not renamed:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    for d in (path.parent, *path.parent.parents):  # the new name, and any new directory
        _fsync_dir(d)
        if d == root:
            break
    return False


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["IDEMPOTENCY_HEADER", "BadSinkConfig", "FileSink", "HttpsSink", "KeyConflict",
           "batch_path", "outbox_dir", "sink_for", "write_batch_file"]
