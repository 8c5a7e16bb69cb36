"""`creditcycle up` as a user runs it: a child that dies is reported, and ends it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.paths import ROOT

CLI = "import sys; from cli.main import main; sys.exit(main())"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "DATABASE_URL", "FLOWER_BASIC_AUTH")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children_of(pid: int) -> list[str]:
    """The worker `up` started (it is named after up's pid), while it runs."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"worker-{pid}@" in args and "celery" in args:
            found.append(args)
    return found


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_up_reports_a_child_that_died_with_the_end_of_its_log_and_exits_non_zero(
        tmp_path: Path, busy_port: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "up", "--database-url", f"sqlite:///{tmp_path}/cc.db",
         "--flower-port", str(busy_port), "--concurrency", "1"],
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"up kept running with Flower unable to bind its port:\n{out}\n{err}")
    assert proc.returncode == 1, (out, err)
    assert "error: flower exited" in err, err
    assert "flower.log" in err and "Traceback" not in err.split("The end of", 1)[0], err
    assert len([x for x in err.splitlines() if x.startswith("  ")]) >= 1, err  # its last lines
    assert _children_of(proc.pid) == []  # the worker it started is stopped too


def test_up_refuses_a_redis_that_does_not_answer_naming_redis_url(tmp_path: Path) -> None:
    port = _free_port()
    done = subprocess.run(
        [sys.executable, "-c", CLI, "up", "--database-url", f"sqlite:///{tmp_path}/cc.db"],
        cwd=tmp_path, env=_env(REDIS_URL=f"redis://:secret@127.0.0.1:{port}/0"),
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "REDIS_URL" in done.stderr and "does not answer" in done.stderr, done.stderr
    assert "secret" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "cc.db").exists()  # nothing created


def test_up_stopped_by_sigterm_stops_everything_it_started(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "up", "--database-url", f"sqlite:///{tmp_path}/cc.db",
         "--flower-port", str(_free_port()), "--concurrency", "1"],
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("Ctrl-C stops everything"):
                break
        deadline = time.monotonic() + 30
        while not _children_of(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _children_of(proc.pid), "the worker never started"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert _children_of(proc.pid) == []
