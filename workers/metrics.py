"""Prometheus metrics of the workers: chunks, steps, closes, money collected, quarantines.

Celery's prefork pool runs tasks in child processes, so the metrics use
prometheus_client's multiprocess mode: each process writes its samples to
files in ``PROMETHEUS_MULTIPROC_DIR`` and the worker's main process serves
the merged view on ``CREDITCYCLE_METRICS_PORT`` (``/metrics``).

- Nothing is recorded unless ``CREDITCYCLE_METRICS_PORT`` or
  ``PROMETHEUS_MULTIPROC_DIR`` is set (scenarios and tests pay nothing).
- prometheus_client fixes its storage when first imported, so it is
  imported lazily: the main process sets the directory (a fresh temporary
  one when unset) in ``worker_init``, before the pool forks, and the
  children inherit it. When something imported it earlier (``celery worker``
  loads Flower's plugin, which does), its storage is chosen again then.
  One directory per worker instance; it is emptied when the worker starts.
- Chunk metrics are observed by the process that ran the chunk; step, close
  and money metrics once per business date, by whoever finished the step or
  the close (the database decides who that is). Money collected is counted
  when a date closes, from that date's journals, so a redelivered chunk
  cannot count twice.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Mapping
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from celery.signals import worker_init, worker_process_shutdown

from domain.steps import StepKey
from workers import hooks, settings

log = logging.getLogger("creditcycle.metrics")

# prometheus_client's own variable: it reads it itself (at import), and this module sets
# it before workers fork, so it is read from the environment here too. Documented with
# the settings (workers.settings), which validate it.
DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
PORT_ENV = "CREDITCYCLE_METRICS_PORT"
ADDR_ENV = "CREDITCYCLE_METRICS_ADDR"

CHUNK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
STEP_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
CYCLE_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
SOURCE_OF_KIND = {"deduct_wallet": "wallet", "deduct_card": "card", "deduct_fund": "fund",
                  "repay": "repay", "recovery": "recovery"}


def enabled() -> bool:
    """Whether metrics are on ($CREDITCYCLE_METRICS_PORT or $PROMETHEUS_MULTIPROC_DIR set)."""
    return bool(settings.get().metrics_port or os.environ.get(DIR_ENV))


@cache
def _m() -> dict[str, Any]:
    """The metric objects, made on first use (after the storage mode is known)."""
    directory = os.environ.get(DIR_ENV)
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
    from prometheus_client import Counter, Gauge, Histogram

    return {
        "chunk_seconds": Histogram(
            "creditcycle_chunk_duration_seconds", "Wall time of one chunk of a step.",
            ["step"], buckets=CHUNK_BUCKETS),
        "chunk_rows": Counter(
            "creditcycle_chunk_rows", "Rows written by chunks of a step.", ["step"]),
        "chunks": Counter(
            "creditcycle_chunks", "Chunks run to completion, by step.", ["step"]),
        "quarantined": Counter(
            "creditcycle_chunks_quarantined", "Chunks quarantined after failing too often.",
            ["step"]),
        "step_seconds": Histogram(
            "creditcycle_step_duration_seconds",
            "Wall time of a step of a business date, first chunk sent to last chunk done.",
            ["step"], buckets=STEP_BUCKETS),
        "cycle_seconds": Histogram(
            "creditcycle_cycle_duration_seconds",
            "Wall time of the close of one business date, deduct to reconcile.",
            buckets=CYCLE_BUCKETS),
        "closed": Counter(
            "creditcycle_business_dates_closed", "Business dates closed, by outcome.",
            ["status"]),
        "last_closed": Gauge(
            "creditcycle_last_closed_business_date_seconds",
            "The newest closed business date (midnight UTC, Unix time).",
            multiprocess_mode="max"),
        "ledger_failed": Counter(
            "creditcycle_ledger_proofs_failed",
            "Ledger proofs that found a broken invariant, by scope (day: the accounts a "
            "close touched; ledger: the weekly whole-ledger proof).", ["scope"]),
        "bank_seconds": Histogram(
            "creditcycle_bank_call_duration_seconds",
            "Wall time of one call to the bank over HTTP, by path and outcome (ok, pending: "
            "a timeout, connection error, 5xx or refused answer; refused: a 4xx).",
            ["path", "outcome"], buckets=CHUNK_BUCKETS),
        "collected": Counter(
            "creditcycle_collected_fen",
            "Money collected, in fen, by source (wallet, card, fund; repay and recovery "
            "from outside), counted when its business date closes.", ["source"]),
        "outbox_delivered": Counter(
            "creditcycle_outbox_delivered_rows",
            "Outbox rows a sink acknowledged, by relay (notifications, agencies, bureau).",
            ["relay"]),
        "outbox_failures": Counter(
            "creditcycle_outbox_delivery_failures",
            "Failed deliveries of an outbox batch (each attempt), by relay.", ["relay"]),
        "outbox_dead": Gauge(
            "creditcycle_outbox_dead_rows",
            "Outbox rows dead (failed outbox_max_attempts times or refused), by relay; "
            "they stay until an operator runs `creditcycle outbox retry`.", ["relay"],
            multiprocess_mode="mostrecent"),
    }


def chunk_finished(key: StepKey, rows: int, seconds: float) -> None:
    """Count a finished chunk: its seconds, rows and one more chunk (under its step: a
    release's and a daytime attempt's count with the step's own)."""
    if not enabled():
        return
    m, label = _m(), key.step.value
    m["chunk_seconds"].labels(label).observe(seconds)
    m["chunk_rows"].labels(label).inc(max(rows, 0))
    m["chunks"].labels(label).inc()


def chunk_quarantined(key: StepKey) -> None:
    """Count a quarantined chunk of step ``key``."""
    if enabled():
        _m()["quarantined"].labels(key.step.value).inc()


def _seconds(started: datetime | None, finished: datetime | None = None) -> float | None:
    if started is None:
        return None
    end = finished or datetime.now(UTC)
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    return max((end - started).total_seconds(), 0.0)


def step_finished(key: StepKey, started_at: datetime | None) -> None:
    """Observe how long step ``key`` ran since ``started_at``."""
    if not enabled():
        return
    seconds = _seconds(started_at)
    if seconds is not None:
        _m()["step_seconds"].labels(key.step.value).observe(seconds)


def day_closed(day: date, status: str, started_at: datetime | None,
               collected: Mapping[str, int]) -> None:
    """A business date closed: its duration, outcome and the money its journals collected."""
    if not enabled():
        return
    m = _m()
    seconds = _seconds(started_at)
    if seconds is not None:
        m["cycle_seconds"].observe(seconds)
    m["closed"].labels(status).inc()
    if status != "ledger_broken":  # a date whose ledger proof failed is not closed
        m["last_closed"].set(datetime(day.year, day.month, day.day,
                                      tzinfo=UTC).timestamp())
    for kind, fen in collected.items():
        m["collected"].labels(SOURCE_OF_KIND.get(kind, kind)).inc(fen)


def bank_call(path: str, outcome: str, seconds: float) -> None:
    """Observe one call to the bank over HTTP (``adapters.bank_http.HttpBank``)."""
    if enabled():
        _m()["bank_seconds"].labels(path, outcome).observe(seconds)


def ledger_proof_failed(scope: str) -> None:
    """Count a failed ledger proof of ``scope``."""
    if enabled():
        _m()["ledger_failed"].labels(scope).inc()


def outbox_delivered(relay: str, rows: int) -> None:
    """Count outbox rows a sink acknowledged."""
    if enabled():
        _m()["outbox_delivered"].labels(relay).inc(rows)


def outbox_failed(relay: str) -> None:
    """Count one failed delivery attempt of ``relay``."""
    if enabled():
        _m()["outbox_failures"].labels(relay).inc()


def outbox_dead(dead: Mapping[str, int]) -> None:
    """Set the dead rows per relay, as the database holds them now."""
    if enabled():
        m = _m()
        for relay, rows in dead.items():
            m["outbox_dead"].labels(relay).set(rows)


# ---------------------------------------------------------------- exposition
def registry() -> Any:
    """The registry to serve: the merged view of every process in multiprocess mode."""
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    if not os.environ.get(DIR_ENV):
        return REGISTRY
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)
    return merged


def prepare_directory() -> str:
    """Choose (or create) and empty the samples directory; call before any fork."""
    directory = os.environ.get(DIR_ENV) or tempfile.mkdtemp(prefix="creditcycle-metrics-")
    os.environ[DIR_ENV] = directory
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    _store_in_files()
    return directory


def _store_in_files() -> None:
    """Make metrics made from now on write to the samples directory.

    prometheus_client picks its storage when first imported, and ``celery worker``
    imports it before the app is loaded (Flower's ``celery.commands`` plugin does), so
    the directory set above would come too late: the children would count in memory and
    ``/metrics`` would be empty. Its own selection is run again, now the directory is set.
    """
    if "prometheus_client" not in sys.modules:
        return  # the first import will see the directory
    from prometheus_client import values

    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.get_value_class()


def serve(port: int, addr: str = "127.0.0.1") -> Any:
    """Serve ``/metrics`` on ``addr:port`` from a daemon thread; returns the server."""
    from prometheus_client import start_http_server

    server, _ = start_http_server(port, addr=addr, registry=registry())
    return server


@hooks.on(worker_init)
def _serve_from_main_process(**_: Any) -> None:
    port = settings.get().metrics_port
    if not port:
        return
    directory = prepare_directory()
    server = serve(port, settings.get().metrics_addr)
    log.info("metrics on http://%s:%s/metrics (samples in %s)",
             server.server_address[0], server.server_port, directory)


@hooks.on(worker_process_shutdown)
def _process_gone(pid: int | None = None, **_: Any) -> None:
    if os.environ.get(DIR_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
