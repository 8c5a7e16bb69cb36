"""Outbox sinks by URL (adapters/sinks.py): the file sink writes each batch whole under a
name from its outbox and key; the https sink posts it signed with its key to the real
reference receiver (its own process), which drops copies; every failure is retryable
or permanent as docs/outbox-sinks.md says; a URL that cannot work is refused naming it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from adapters.bank_http import Timeouts
from adapters.signing import SIGNATURE_HEADER, sign
from adapters.sink_receiver import ReceiverAdmin, ReceiverProcess
from adapters.sinks import (
    IDEMPOTENCY_HEADER,
    BadSinkConfig,
    FileSink,
    HttpsSink,
    batch_path,
    sink_for,
)
from domain.outbox import Acknowledged, Batch, DeliveryFailed
from drills.servers import free_port

SECRET = "sink-secret"
D = date(2026, 5, 16)
READ = 0.5


def batch(key: str = "agency-alpha:2026-05-16:0", outbox: str = "agency:Alpha Recovery",
          n: int = 3) -> Batch:
    return Batch(outbox, key, tuple({"loan": f"L{i}", "kind": "handoff", "owed": 1000 * i,
                                     "name": "Z*"} for i in range(1, n + 1)), D)


def visible(root: Path) -> list[Path]:
    """What a reader listing the directory sees (hidden temporary names aside)."""
    return sorted(p for p in root.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


# ---------------------------------------------------------------------- file://
def test_the_file_sink_writes_each_batch_whole_under_a_name_from_its_outbox_and_key(
        tmp_path: Path) -> None:
    sink = sink_for(f"file://{tmp_path}/out", None, field="agency_sink_url")
    assert isinstance(sink, FileSink)
    b, n = batch(), batch("n-2026-05-16-0", "notifications")
    assert sink.deliver(b) == Acknowledged(b.key, duplicate=False)
    assert sink.deliver(n) == Acknowledged(n.key, duplicate=False)
    out = tmp_path / "out"
    assert visible(out) == [out / "agency" / "Alpha Recovery" / f"{b.key}.json",
                            out / "notifications" / f"{n.key}.json"]
    assert (out / "agency" / "Alpha Recovery" / f"{b.key}.json").read_bytes() == b.body
    assert json.loads((out / "notifications" / f"{n.key}.json").read_bytes())["count"] == 3
    assert list(out.rglob(".*")) == []  # no temporary file left behind


def test_a_second_delivery_of_the_same_key_to_the_file_sink_leaves_one_identical_file(
        tmp_path: Path) -> None:
    sink = sink_for(f"file://{tmp_path}", None)
    first = sink.deliver(batch())
    path = batch_path(tmp_path, batch().outbox, batch().key)
    stat = path.stat()
    again = sink.deliver(batch())  # the relay was killed after the first answer
    assert (first, again) == (Acknowledged(batch().key), Acknowledged(batch().key, True))
    assert visible(tmp_path) == [path]
    assert path.read_bytes() == batch().body
    assert path.stat().st_mtime_ns == stat.st_mtime_ns  # not even rewritten


def test_the_same_key_with_other_rows_is_a_permanent_failure_and_the_first_file_is_kept(
        tmp_path: Path) -> None:
    sink = sink_for(f"file://{tmp_path}", None)
    sink.deliver(batch(n=3))
    out = sink.deliver(batch(n=4))
    assert isinstance(out, DeliveryFailed) and not out.retryable
    assert "delivered before with other content" in out.cause
    assert batch_path(tmp_path, batch().outbox, batch().key).read_bytes() == batch(n=3).body


def test_a_crash_between_write_and_rename_leaves_no_visible_partial_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = sink_for(f"file://{tmp_path}", None)
    written: list[bytes] = []

    def crash(src: str, dst: str) -> None:
        written.append(Path(src).read_bytes())  # the whole batch was written, then...
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)  # the rename of the temporary
    out = sink.deliver(batch())
    assert isinstance(out, DeliveryFailed) and out.retryable
    assert "No space left on device" in out.cause
    assert written == [batch().body]
    assert visible(tmp_path) == []
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # the temporary is gone
    monkeypatch.undo()
    assert sink.deliver(batch()) == Acknowledged(batch().key)  # the retry lands it whole
    assert [p.read_bytes() for p in visible(tmp_path)] == [batch().body]


def test_a_file_sink_that_cannot_write_its_directory_yields_a_retryable_failure(
        tmp_path: Path) -> None:
    (tmp_path / "agency").write_text("a file where the agency directory goes")
    out = sink_for(f"file://{tmp_path}", None).deliver(batch())
    assert isinstance(out, DeliveryFailed) and out.retryable
    assert str(tmp_path / "agency") in out.cause


# ---------------------------------------------------------------------- https://
@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReceiverProcess]:
    proc = ReceiverProcess(str(tmp_path_factory.mktemp("receiver") / "in"), SECRET).start()
    yield proc
    proc.stop()


@pytest.fixture
def admin(receiver: ReceiverProcess) -> Iterator[ReceiverAdmin]:
    a = ReceiverAdmin(receiver.url, SECRET)
    a.set_mode(down_for=0, slow_ms=0, slow_for=None)
    yield a
    a.set_mode(down_for=0, slow_ms=0, slow_for=None)
    a.close()


@pytest.fixture
def sink(receiver: ReceiverProcess) -> Iterator[HttpsSink]:
    s = sink_for(receiver.url + "/agency", SECRET, timeouts=Timeouts(connect=1, read=READ))
    assert isinstance(s, HttpsSink)
    yield s
    s.close()


def key_for(request: pytest.FixtureRequest) -> str:
    """A key of its own per test (the receiver is shared)."""
    return "k-" + str(request.node.name)[-80:].replace("[", "-").replace("]", "")


def test_the_https_sink_posts_a_signed_batch_with_its_key_and_the_receiver_stores_it(
        sink: HttpsSink, admin: ReceiverAdmin, receiver: ReceiverProcess,
        request: pytest.FixtureRequest) -> None:
    b = batch(key_for(request))
    before = admin.stats()
    assert sink.deliver(b) == Acknowledged(b.key, duplicate=False)
    assert batch_path(Path(receiver.root), b.outbox, b.key).read_bytes() == b.body
    assert admin.stats()["accepted"] == before["accepted"] + 1
    # The receiver checks what the sink sends: a wrong secret is refused for good.
    wrong = sink_for(receiver.url, "another-secret")
    out = wrong.deliver(batch(key_for(request) + "-w"))
    assert isinstance(out, DeliveryFailed) and not out.retryable and "HTTP 401" in out.cause
    wrong.close()


def test_the_receiver_drops_a_second_copy_of_a_key_and_answers_duplicate(
        sink: HttpsSink, admin: ReceiverAdmin, receiver: ReceiverProcess,
        request: pytest.FixtureRequest) -> None:
    b = batch(key_for(request))
    assert sink.deliver(b) == Acknowledged(b.key, duplicate=False)
    before = admin.stats()
    assert sink.deliver(b) == Acknowledged(b.key, duplicate=True)
    after = admin.stats()
    assert (after["accepted"], after["duplicates"]) == (before["accepted"],
                                                        before["duplicates"] + 1)
    files = list(Path(receiver.root).rglob(f"{b.key}.json"))
    assert [f.read_bytes() for f in files] == [b.body]


def test_the_receiver_refuses_the_same_key_with_other_rows_for_good_and_keeps_the_first(
        sink: HttpsSink, admin: ReceiverAdmin, receiver: ReceiverProcess,
        request: pytest.FixtureRequest) -> None:
    key = key_for(request)
    assert sink.deliver(batch(key, n=2)) == Acknowledged(key)
    out = sink.deliver(batch(key, n=5))
    assert isinstance(out, DeliveryFailed) and not out.retryable and "HTTP 409" in out.cause
    assert batch_path(Path(receiver.root), batch().outbox, key).read_bytes() == batch(key,
                                                                                      n=2).body
    assert admin.stats()["conflicts"] >= 1


def test_the_idempotency_key_header_must_name_the_batch_it_carries(
        receiver: ReceiverProcess, admin: ReceiverAdmin, request: pytest.FixtureRequest) -> None:
    b = batch(key_for(request))
    r = httpx.post(receiver.url + "/x", content=b.body, headers={
        SIGNATURE_HEADER: sign(SECRET.encode(), b.body), IDEMPOTENCY_HEADER: "other-key"})
    assert r.status_code == 400 and "Idempotency-Key" in r.json()["error"]
    assert not list(Path(receiver.root).rglob(f"{b.key}.json"))


def test_a_down_receiver_yields_a_retryable_failure_and_the_batch_lands_once_it_is_back(
        sink: HttpsSink, admin: ReceiverAdmin, receiver: ReceiverProcess,
        request: pytest.FixtureRequest) -> None:
    b = batch(key_for(request))
    admin.set_mode(down_for=60)
    out = sink.deliver(b)
    assert isinstance(out, DeliveryFailed) and out.retryable and "HTTP 503" in out.cause
    assert out.retry_after == 1.0
    assert not list(Path(receiver.root).rglob(f"{b.key}.json"))
    admin.set_mode(down_for=0)
    assert sink.deliver(b) == Acknowledged(b.key, duplicate=False)


def test_a_receiver_nobody_listens_on_yields_a_retryable_failure() -> None:
    sink = sink_for(f"http://127.0.0.1:{free_port()}/in", SECRET,
                    timeouts=Timeouts(connect=1, read=READ))
    out = sink.deliver(batch())
    assert isinstance(out, DeliveryFailed) and out.retryable
    assert "connection error" in out.cause
    sink.close()


def test_a_receiver_slower_than_the_read_timeout_yields_a_retryable_failure_and_a_duplicate(
        sink: HttpsSink, admin: ReceiverAdmin, request: pytest.FixtureRequest) -> None:
    b = batch(key_for(request))
    admin.set_mode(slow_ms=int(READ * 1000 * 3), slow_for=None)
    out = sink.deliver(b)
    assert isinstance(out, DeliveryFailed) and out.retryable and "timeout" in out.cause
    admin.set_mode(slow_ms=0)
    # It had stored the batch before answering late: the retry is dropped as a copy.
    assert sink.deliver(b) == Acknowledged(b.key, duplicate=True)


def test_a_restarted_receiver_still_drops_a_copy_of_a_key_it_stored(
        tmp_path: Path) -> None:
    proc = ReceiverProcess(str(tmp_path / "in"), SECRET).start()
    sink = sink_for(proc.url, SECRET, timeouts=Timeouts(connect=1, read=5))
    try:
        assert sink.deliver(batch()) == Acknowledged(batch().key)
        proc.stop(kill=True)
        proc.start()
        sink2 = sink_for(proc.url, SECRET, timeouts=Timeouts(connect=1, read=5))
        assert sink2.deliver(batch()) == Acknowledged(batch().key, duplicate=True)
        sink2.close()
    finally:
        sink.close()
        proc.stop()


@pytest.mark.parametrize(("status", "retryable"), [
    (400, False), (401, False), (404, False), (409, False), (413, False), (301, False),
    (408, True), (429, True), (500, True), (502, True), (503, True), (504, True),
])
def test_each_answer_of_the_sink_is_a_retryable_or_a_permanent_failure(
        status: int, retryable: bool) -> None:
    seen: list[httpx.Request] = []

    def answer(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(status, json={"error": "no"}, headers={"Retry-After": "7"})

    sink = sink_for("https://agency.example/in", SECRET,
                    transport=httpx.MockTransport(answer))
    out = sink.deliver(batch())
    assert out == DeliveryFailed(batch().key, retryable, f'HTTP {status}: {{"error":"no"}}',
                                 7.0 if retryable else None)
    (req,) = seen
    assert req.headers[IDEMPOTENCY_HEADER] == batch().key
    assert req.headers[SIGNATURE_HEADER] == sign(SECRET.encode(), batch().body)
    assert req.content == batch().body


def test_any_2xx_is_an_acknowledgement_whatever_its_body() -> None:
    for status, body in ((200, b""), (201, b"ok"), (204, b""), (202, b'{"duplicate":true}')):
        sink = sink_for("https://agency.example/in", SECRET, transport=httpx.MockTransport(
            lambda _r, s=status, c=body: httpx.Response(s, content=c)))
        assert sink.deliver(batch()) == Acknowledged(batch().key, duplicate=status == 202)


@pytest.mark.parametrize(("url", "secret", "says"), [
    ("ftp://agency.example/in", SECRET, "'ftp://agency.example/in' is not a sink URL"),
    ("http://agency.example/in", SECRET, "plain http:// is allowed only to 127.0.0.1"),
    ("http://10.0.0.7:8900/in", SECRET, "plain http:// is allowed only to 127.0.0.1"),
    ("file://", None, "'file://' names no directory"),
    ("https:///in", SECRET, "names no host"),
    ("https://agency.example:99999/in", SECRET, "has a bad port"),
    ("https://bob:pw@agency.example/in", SECRET, "'https://***@agency.example/in' must not"),
    (" https://agency.example/in", SECRET, "spaces or control characters"),
    ("", SECRET, "a sink URL is needed"),
    ("agency.example/in", SECRET, "is not a sink URL"),
    ("https://agency.example/in", "", "agency_sink_secret: must not be empty"),
])
def test_a_sink_url_that_cannot_work_is_refused_naming_its_field(
        url: str, secret: str | None, says: str) -> None:
    with pytest.raises(BadSinkConfig) as err:
        sink_for(url, secret, field="agency_sink_url", secret_field="agency_sink_secret")
    field = "agency_sink_secret" if "secret" in says else "agency_sink_url"
    assert str(err.value).startswith(f"{field}: ")
    assert says in str(err.value)
    assert "pw" not in str(err.value)


def test_a_file_sink_url_naming_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(BadSinkConfig, match=r"^bureau_sink_url: .* is not a directory"):
        sink_for(f"file://{tmp_path}/f", None, field="bureau_sink_url")


def test_http_to_the_loopback_is_allowed_for_tests_and_demos() -> None:
    for host in ("127.0.0.1:8900", "localhost", "[::1]:8900"):
        s = sink_for(f"http://{host}/in", SECRET)
        assert isinstance(s, HttpsSink) and s.url == f"http://{host}/in"
