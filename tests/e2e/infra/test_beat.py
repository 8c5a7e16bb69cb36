"""Beat in the image: a working directory it cannot write (root-owned, read-only /app)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from schedules import beat
from tests.support.paths import ROOT


def _in_readonly(directory: Path, cmd: list[str]) -> list[str]:
    """``cmd`` run in ``directory`` made read-only for it: root ignores file modes, so as
    root the directory is bind-mounted read-only in a private mount namespace (what the
    image's read-only /app gives: "Read-only file system"); anyone else gets mode 0555."""
    directory.chmod(0o555)
    if os.geteuid() != 0:
        return cmd
    if shutil.which("unshare") is None:
        pytest.fail("running as root without unshare: cannot make a read-only directory",
                    pytrace=False)
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && cd "$0" && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
            str(directory), *cmd]


@pytest.fixture
def dirs(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A working directory beat cannot write and a state directory it can (as in the image)."""
    readonly, state = tmp_path / "app", tmp_path / "state"
    readonly.mkdir()
    state.mkdir()
    yield readonly, state
    readonly.chmod(0o755)


def _queued_tasks(url: str) -> list[str]:
    client = redis.Redis.from_url(url)
    try:
        return [json.loads(raw)["headers"]["task"] for raw in client.lrange("cycle", 0, -1)]
    finally:
        client.close()


def test_beat_in_a_working_directory_it_cannot_write_keeps_its_schedule_in_the_state_dir(
        redis_url: str, dirs: tuple[Path, Path], tmp_path: Path) -> None:
    readonly, state = dirs
    url = redis_url.rsplit("/", 1)[0] + "/7"
    redis.Redis.from_url(url).flushdb()
    env = {k: v for k, v in os.environ.items()
           if k not in (beat.STATE_ENV, "XDG_STATE_HOME")}
    env.update({"PYTHONPATH": str(ROOT), "REDIS_URL": url, "HOME": str(readonly),
                beat.STATE_ENV: str(state), "CREDITCYCLE_BEAT_FAST": "1"})
    # The working directory really is read-only for the process (root writes anyway).
    probe = subprocess.run(_in_readonly(readonly, [sys.executable, "-c", "open('probe', 'w')"]),
                           cwd=readonly, env=env, capture_output=True, text=True, timeout=60,
                           check=False)
    assert probe.returncode != 0 and ("Read-only file system" in probe.stderr
                                      or "Permission denied" in probe.stderr), probe.stderr
    log = tmp_path / "beat.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(_in_readonly(readonly, [
            sys.executable, "-m", "celery", "-A", "workers.celery_app", "beat", "-l", "INFO"]),
            cwd=readonly, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if "creditcycle.cycle.run" in _queued_tasks(url):
                break
            time.sleep(0.2)
        alive = proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert alive, text[-3000:]
    assert "creditcycle.cycle.run" in _queued_tasks(url), text[-3000:]
    assert list(readonly.iterdir()) == []
    assert any(p.name.startswith(beat.SCHEDULE_FILE) for p in state.iterdir()), text[-3000:]


def test_without_a_state_dir_setting_the_schedule_is_in_the_users_state_home(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(beat.STATE_ENV, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert beat.schedule_file() == str(tmp_path / "xdg" / "creditcycle" / beat.SCHEDULE_FILE)
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert beat.state_dir() == tmp_path / ".local" / "state" / "creditcycle"


def test_beat_refuses_to_start_naming_the_setting_when_its_state_dir_is_not_writable(
        tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": "redis://127.0.0.1:1/0",
           "CREDITCYCLE_CONTACT_SECRET": "a-deployment-secret",
           beat.STATE_ENV: str(blocker / "state")}  # under a file: never writable
    try:
        done = subprocess.run(
            [sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main())",
             "beat"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30,
            check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("beat started instead of refusing")
    assert done.returncode == 2, done.stderr
    assert beat.STATE_ENV in done.stderr and "Traceback" not in done.stderr, done.stderr
