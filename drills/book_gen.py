"""A synthetic book for ``creditcycle import DIR`` (SPEC 13) and its timing drill.

``write_book`` writes ``users.csv``, ``loans.csv`` and ``balances.csv`` for N users
(one loan each, a balance row for every other user), deterministic for a seed, row
by row so that a million users take no more memory than ten. ``import_bench``
writes such a book, imports it into a migrated database (a private PostgreSQL by
default) with the ``creditcycle import`` command's own code and times it
(``creditcycle import-bench --users N``).
"""

from __future__ import annotations

import csv
import os
import random
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from domain.money import add_months

USER_COLUMNS = ("id", "name", "phone", "birth_date", "identity_verified", "identity_expires",
                "card_token", "score", "limit", "consent_wallet", "consent_card",
                "consent_fund")
LOAN_COLUMNS = ("id", "user", "principal", "annual_rate_bp", "term_months", "disbursed",
                "installments_paid")
BALANCE_COLUMNS = ("user", "wallet", "fund", "card")
TERMS = (3, 6, 9, 12, 24)
# The private server's settings: those of ``make bench`` (durable, fsync on).
SERVER_SETTINGS = {"synchronous_commit": "off", "shared_buffers": "2GB", "work_mem": "64MB",
                   "maintenance_work_mem": "1GB", "max_wal_size": "16GB",
                   "checkpoint_timeout": "30min", "max_connections": "200"}


@dataclass(frozen=True, slots=True)
class Written:
    """What ``write_book`` wrote: the directory and its row counts."""

    directory: Path
    users: int
    loans: int
    balances: int


def write_book(directory: Path, users: int, first_open_day: date, seed: int = 1) -> Written:
    """Write a book of ``users`` users, one loan each, into ``directory`` (created).

    Each loan was disbursed up to a year before ``first_open_day``; its paid
    installments are those due before that day, but one loan in twenty is one
    installment behind (so the first night has overdue loans to find).
    """
    rng = random.Random(seed)  # noqa: S311 (a synthetic book, not a secret)
    directory.mkdir(parents=True, exist_ok=True)
    balances = 0
    with (open(directory / "users.csv", "w", newline="", encoding="utf-8") as uf,
          open(directory / "loans.csv", "w", newline="", encoding="utf-8") as lf,
          open(directory / "balances.csv", "w", newline="", encoding="utf-8") as bf):
        uw, lw, bw = csv.writer(uf), csv.writer(lf), csv.writer(bf)
        uw.writerow(USER_COLUMNS)
        lw.writerow(LOAN_COLUMNS)
        bw.writerow(BALANCE_COLUMNS)
        for n in range(1, users + 1):
            uid = f"u{n:08d}"
            born = date(1966, 1, 1) + timedelta(days=rng.randrange(365 * 40))
            expires = first_open_day + timedelta(days=rng.randrange(30, 3650))
            score = rng.randrange(450, 850)
            uw.writerow((uid, f"User {n}", f"1{rng.randrange(10**10):010d}", born.isoformat(),
                         "true", expires.isoformat(), f"tok_{uid}", score,
                         rng.randrange(1, 50) * 10_000, "true", "true",
                         "true" if n % 3 else "false"))
            term = rng.choice(TERMS)
            disbursed = first_open_day - timedelta(days=rng.randrange(1, 366))
            due = sum(add_months(disbursed, k) < first_open_day for k in range(1, term + 1))
            paid = min(due, term - 1)
            if paid and n % 20 == 0:
                paid -= 1
            lw.writerow((f"L{n:08d}", uid, rng.randrange(5, 500) * 1000,
                         rng.choice((0, 1200, 1800, 2400, 3600)), term, disbursed.isoformat(),
                         paid))
            if n % 2:
                fund = rng.randrange(0, 50_000) if n % 5 == 1 else 0
                bw.writerow((uid, rng.randrange(0, 100_000), fund, rng.randrange(0, 200_000)))
                balances += 1
    return Written(directory, users, users, balances)


@dataclass(frozen=True, slots=True)
class ImportTiming:
    """One timed import: the book's size, the seconds to write it and to import it, and
    the CPU seconds the import took in this process with its producer processes, and in
    the PostgreSQL server (None
    when the server is not a private one started here). On a shared machine the wall
    time depends on the others' load; the CPU seconds much less."""

    users: int
    loans: int
    write_seconds: float
    import_seconds: float
    client_cpu: float
    server_cpu: float | None
    result: dict[str, object]

    def line(self) -> str:
        """The drill's one-line summary."""
        server = f"{self.server_cpu:.1f}" if self.server_cpu is not None else "n/a"
        return (f"import users={self.users} loans={self.loans} "
                f"wall_s={self.import_seconds:.1f} client_cpu_s={self.client_cpu:.1f} "
                f"server_cpu_s={server} (book written in {self.write_seconds:.1f} s)")


Importer = Callable[[Path, date, str], dict[str, object]]


def import_bench(run: Importer, users: int, database_url: str | None = None,
                 directory: Path | None = None,
                 first_open_day: date = date(2026, 3, 1)) -> ImportTiming:
    """Write a book of ``users`` users (into ``directory``, default a temporary one) and
    time ``run(directory, first_open_day, url)`` (the import command's work, in this
    process) into ``database_url``, or into a private PostgreSQL started for it."""
    from store.engine import migrate

    with tempfile.TemporaryDirectory(prefix="creditcycle-book-") as tmp:
        where = directory or Path(tmp)
        t0 = time.perf_counter()
        written = write_book(where, users, first_open_day)
        wrote = time.perf_counter() - t0
        if database_url is not None:
            migrate(database_url)
            return _timed(run, where, first_open_day, database_url, None, written, wrote)
        from drills.servers import start_postgres

        with start_postgres(database="creditcycle_import", fast=False,
                            settings=SERVER_SETTINGS) as pg:
            migrate(pg.url)
            return _timed(run, where, first_open_day, pg.url, pg.data_dir, written, wrote)


def _timed(run: Importer, where: Path, first: date, url: str, data_dir: Path | None,
           written: Written, wrote: float) -> ImportTiming:
    server0 = _server_cpu(data_dir)
    cpu0, t0 = _client_cpu(), time.perf_counter()
    result = run(where, first, url)
    wall, cpu = time.perf_counter() - t0, _client_cpu() - cpu0
    time.sleep(0.5)  # the server reaps the import's backend: its CPU joins the postmaster's
    server1 = _server_cpu(data_dir)
    server = server1 - server0 if server0 is not None and server1 is not None else None
    return ImportTiming(written.users, written.loans, wrote, wall, cpu, server, result)


def _client_cpu() -> float:
    """CPU seconds of this process and of its children that ended (the import's producer
    processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _server_cpu(data_dir: Path | None) -> float | None:
    """CPU seconds of a local PostgreSQL so far: the postmaster's own and its reaped
    children's, plus its live children's (Linux /proc); None where it cannot be read."""
    if data_dir is None:
        return None
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        tick = os.sysconf("SC_CLK_TCK")
        total = sum(int(v) for v in _stat(pid)[13:17])
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                fields = _stat(int(entry.name), missing_ok=True)
                if fields and int(fields[3]) == pid:
                    total += int(fields[13]) + int(fields[14])
        return total / tick
    except (OSError, ValueError, IndexError):
        return None


def _stat(pid: int, *, missing_ok: bool = False) -> list[str]:
    """The fields of /proc/PID/stat, field N at index N - 1 (the command name left out)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        if missing_ok:
            return []
        raise
    return ["", "", *text.rpartition(")")[2].split()]
