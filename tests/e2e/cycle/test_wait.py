"""``cycle run --wait`` drives a night with no beat: it recovers lost messages, goes on
towards its own target, says what it waits for, gives up with a clear message when the
cycle cannot move, and leaves nothing running behind however it is stopped.

Each test runs the real command line in a subprocess with its private Redis and workers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from domain.config import ProductConfig
from drills import testing
from drills.bench import _worker_pids
from store import cycle as cyc
from store import schema as s
from store.engine import now
from tests.support.paths import ROOT
from workers import cycle
from workers.progress import closed_through
from workers.scenario import load_file, run_scenario

START = date(2026, 3, 1)
CHUNK = 10


def _env(clock: date, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "DATABASE_URL", "CREDITCYCLE_FAULT", "CREDITCYCLE_CONFIG")}
    env.update({"CREDITCYCLE_NOW": f"{clock}T00:30", "CREDITCYCLE_CHUNK_SIZE": str(CHUNK),
                "CREDITCYCLE_STALL_SECONDS": "2", "CREDITCYCLE_RETRY_SCALE": "0.05",
                "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])})
    env.update(extra)
    return env


def _wait_cmd(url: str, target: date) -> list[str]:
    return [sys.executable, "-m", "cli.main", "cycle", "run", "--date", target.isoformat(),
            "--wait", "--concurrency", "2", "--database-url", url]


def _run(url: str, target: date, timeout: float = 150, **extra: str
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_wait_cmd(url, target), check=False, capture_output=True, text=True,
                          env=_env(target + timedelta(days=1), **extra), timeout=timeout,
                          cwd=ROOT)


@pytest.fixture
def seeded(sqlite_url):
    engine = testing.seeded(sqlite_url, 40, START, CHUNK)
    yield sqlite_url, engine
    engine.dispose()


def test_a_next_step_lost_with_the_worker_that_committed_it_is_recovered_by_wait(seeded):
    url, engine = seeded
    # Every worker that completes a step dies right after that commit, before sending
    # the next step's messages: each step of the night is stuck until someone recovers.
    out = _run(url, START, CREDITCYCLE_FAULT="deduct:*:lose,overdue:*:lose,score:*:lose")
    assert out.returncode == 0, out.stderr[-3000:]
    assert closed_through(engine) == START
    assert "waiting for business dates 2026-03-01 .. 2026-03-01" in out.stderr
    assert "re-sent" in out.stderr


def test_a_wait_goes_on_to_its_target_after_a_stopped_run_with_a_nearer_one(seeded):
    url, engine = seeded
    # A `--wait` for START was stopped right after it began: its close is open, its
    # messages died with its private Redis, and its target is START, not START + 2.
    cycle.begin(engine, START, ProductConfig(chunk_size=CHUNK))
    out = _run(url, START + timedelta(days=2))
    assert out.returncode == 0, out.stderr[-3000:]
    assert closed_through(engine) == START + timedelta(days=2)


def test_wait_on_a_scenario_database_goes_on_from_the_scenarios_last_date(sqlite_url):
    data = load_file(ROOT / "examples" / "on-time-payer.json")
    run_scenario(data, database_url=sqlite_url)
    last = date.fromisoformat(data["run"]["to"])
    from store.engine import make_engine

    engine = make_engine(sqlite_url)
    assert closed_through(engine) == last
    out = _run(sqlite_url, last + timedelta(days=1))
    assert out.returncode == 0, out.stderr[-3000:]
    assert closed_through(engine) == last + timedelta(days=1)
    engine.dispose()


def test_a_close_that_cannot_move_ends_wait_with_its_reason_and_a_non_zero_exit(seeded):
    url, engine = seeded
    # A close left open whose steps something else already ran (as the scenario runner
    # once did): no message can ever move it.
    with engine.begin() as conn:
        cyc.start_close(conn, START)
        conn.execute(insert(s.cycle_runs).values(day=START, step="deduct", status=cyc.DONE,
                                                 total=4, done=4, started_at=now(),
                                                 finished_at=now()))
    t = time.monotonic()
    out = _run(url, START, timeout=120)
    assert out.returncode == 1, out.stderr[-3000:]
    assert "the cycle cannot move" in out.stderr
    assert f"the close of {START} is open but none of its steps is running" in out.stderr
    assert "Traceback" not in out.stderr
    assert time.monotonic() - t < 60


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_a_stopped_wait_leaves_no_redis_or_worker_process_behind(seeded, how):
    url, engine = seeded
    cycle.begin(engine, START, ProductConfig(chunk_size=CHUNK))  # lost: it waits
    env = _env(START + timedelta(days=1), CREDITCYCLE_STALL_SECONDS="600")
    proc = subprocess.Popen(_wait_cmd(url, START), env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=_signals_as_in_a_terminal)  # noqa: PLW1509
    deadline = time.monotonic() + 60
    started: list[int] = []
    while time.monotonic() < deadline:  # the CLI, redis-server, a worker and its pool
        started = _worker_pids(proc.pid)[1:]
        if len(started) >= 4:
            time.sleep(2)  # the worker's pool is up
            started = _worker_pids(proc.pid)[1:]
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the wait did not start its Redis and worker")
    proc.send_signal(how)
    proc.wait(timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and [p for p in started if _alive(p)]:
        time.sleep(0.2)
    assert [p for p in started if _alive(p)] == []
    if how != signal.SIGKILL:
        assert proc.returncode == 128 + how


def _signals_as_in_a_terminal() -> None:
    """The stop signals at their default, as a shell in a terminal leaves them: a suite
    run under ``nohup`` ignores SIGHUP, which the wait rightly leaves ignored."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
