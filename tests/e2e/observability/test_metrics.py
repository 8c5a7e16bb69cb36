"""Prometheus metrics of the workers, merged across prefork processes.

prometheus_client chooses its storage when first imported, so each check
runs in a fresh interpreter, as a worker process would.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from cli import api
from drills.stack import local_stack
from drills.testing import seeded, wait_closed
from tests.support.paths import ROOT


def _python(code: str, env: dict[str, str]) -> str:
    import os

    full = {k: v for k, v in os.environ.items()
            if k not in ("PROMETHEUS_MULTIPROC_DIR", "CREDITCYCLE_METRICS_PORT")}
    done = subprocess.run([sys.executable, "-c", code], env={**full, **env}, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _sample(text: str, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        metric, _, value = line.rpartition(" ")
        head, _, rest = metric.partition("{")
        got = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
        if head == name and got == want:
            return float(value)
    return None


RECORD = """
from datetime import date
from domain.steps import Step, StepKey
from workers import metrics
metrics.chunk_finished(StepKey(Step.DEDUCT), {rows}, 0.2)
metrics.chunk_finished(StepKey(Step.LIMIT, run="release"), 1, 0.01)
metrics.chunk_quarantined(StepKey(Step.SCORE))
metrics.day_closed(date(2026, 2, 16), "done", None, {{"deduct_card": 41206, "repay": 100}})
"""


def test_samples_of_several_processes_are_merged_into_one_view(tmp_path: Path) -> None:
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    _python(RECORD.format(rows=5), env)
    _python(RECORD.format(rows=7), env)
    text = _python("from prometheus_client import generate_latest\n"
                   "from workers import metrics\n"
                   "print(generate_latest(metrics.registry()).decode())", env)
    assert _sample(text, "creditcycle_chunks_total", step="deduct") == 2
    assert _sample(text, "creditcycle_chunk_rows_total", step="deduct") == 12
    assert _sample(text, "creditcycle_chunks_total", step="limit") == 2  # a release counts
    assert _sample(text, "creditcycle_chunk_duration_seconds_count", step="deduct") == 2
    assert _sample(text, "creditcycle_chunks_quarantined_total", step="score") == 2
    assert _sample(text, "creditcycle_collected_fen_total", source="card") == 2 * 41206
    assert _sample(text, "creditcycle_collected_fen_total", source="repay") == 200
    assert _sample(text, "creditcycle_business_dates_closed_total", status="done") == 2
    assert _sample(text, "creditcycle_last_closed_business_date_seconds") == 1771200000.0


def test_nothing_is_recorded_or_imported_when_metrics_are_off() -> None:
    out = _python(RECORD.format(rows=5) + "import sys\n"
                  "print('prometheus_client' in sys.modules)", {})
    assert out.strip() == "False"


def test_the_metrics_are_served_over_http(tmp_path: Path) -> None:
    code = RECORD.format(rows=3) + """
import urllib.request
server = metrics.serve(0)
port = server.server_port
print(urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode())
"""
    text = _python(code, {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    assert _sample(text, "creditcycle_chunk_rows_total", step="deduct") == 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_real_worker_serves_the_night_and_logs_json_with_the_chunk(
        redis_url: str, sqlite_url: str, tmp_path: Path) -> None:
    start = date(2026, 3, 1)
    engine = seeded(sqlite_url, 60, start, 20)
    port = _free_port()
    env = {"CREDITCYCLE_CHUNK_SIZE": "20", "CREDITCYCLE_METRICS_PORT": str(port),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    log = tmp_path / "worker.log"
    with local_stack(sqlite_url, redis_url=redis_url, extra_env=env) as st:
        st._spawn([sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
                   "-Q", "cycle", "-c", "2", "-n", f"metrics-{port}@%h", "-l", "INFO",
                   "--without-gossip", "--without-mingle"], None, log)
        api.submit("creditcycle.cycle.run", date=(start + timedelta(days=1)).isoformat())
        wait_closed(engine, start + timedelta(days=1))
        text = ""
        for _ in range(50):
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                              timeout=5).read().decode()
                if _sample(text, "creditcycle_business_dates_closed_total", status="done") == 2:
                    break
            except OSError:
                pass
            time.sleep(0.2)
    engine.dispose()
    assert _sample(text, "creditcycle_business_dates_closed_total", status="done") == 2
    assert _sample(text, "creditcycle_chunks_total", step="deduct") == 6  # 3 chunks x 2 dates
    assert _sample(text, "creditcycle_step_duration_seconds_count", step="overdue") == 2
    assert _sample(text, "creditcycle_cycle_duration_seconds_count") == 2
    assert (_sample(text, "creditcycle_collected_fen_total", source="card") or 0) > 0
    lines = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines()
             if x.startswith("{")]
    assert lines, log.read_text(encoding="utf-8")[-2000:]
    chunk_lines = [x for x in lines if x.get("step") and x.get("business_date")]
    assert chunk_lines, lines[-5:]
    assert {"2026-03-01", "2026-03-02"} <= {x["business_date"] for x in chunk_lines}


def _scrape_until(port: int, done: Callable[[str], bool], tries: int = 50) -> str:
    text = ""
    for _ in range(tries):
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                          timeout=5).read().decode()
            if done(text):
                break
        except OSError:
            pass
        time.sleep(0.2)
    return text


def test_a_worker_started_with_only_the_metrics_port_serves_the_series_of_its_children(
        redis_url: str, sqlite_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The documented default: CREDITCYCLE_METRICS_PORT alone, no PROMETHEUS_MULTIPROC_DIR,
    # through the real `celery worker` command line (whose plugins import Flower, and with
    # it prometheus_client, before the app is loaded).
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    start = date(2026, 3, 1)
    engine = seeded(sqlite_url, 20, start, 20)
    port = _free_port()
    env = {"CREDITCYCLE_CHUNK_SIZE": "20", "CREDITCYCLE_METRICS_PORT": str(port)}
    log = tmp_path / "worker.log"
    with local_stack(sqlite_url, redis_url=redis_url, extra_env=env) as st:
        assert "PROMETHEUS_MULTIPROC_DIR" not in st.env
        st.start_worker(2, name=f"metrics-default-{port}", log=log)
        api.submit("creditcycle.cycle.run", date=start.isoformat())
        wait_closed(engine, start)
        text = _scrape_until(port, lambda t: _sample(
            t, "creditcycle_business_dates_closed_total", status="done") == 1)
    engine.dispose()
    assert _sample(text, "creditcycle_business_dates_closed_total", status="done") == 1, (
        text[-2000:] or log.read_text(encoding="utf-8")[-2000:])
    assert _sample(text, "creditcycle_chunks_total", step="deduct") == 1
