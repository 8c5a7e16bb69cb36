"""Workers debit the bank over HTTP: a stack starts the simulator as a process, seeds its
cards from the portfolio in one bulk load, and the bank's own ledger is what creditcycle
booked; a worker with no bank configured refuses to start, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import date

from sqlalchemy import func, select

from cli import api
from drills import testing
from drills.testing import wait_closed
from store import ledger_checks
from store import schema as s

START = date(2026, 3, 1)
USERS, CHUNK = 60, 20
BANK_VARIABLES = ("CREDITCYCLE_BANK_URL", "CREDITCYCLE_BANK_SECRET", "CREDITCYCLE_LOCAL_BANK")


def _card_journals(engine) -> Counter[str]:
    """What creditcycle booked from each card, by the card's token."""
    j, u = s.journals.c, s.users.c
    with engine.connect() as conn:
        return Counter({t: int(v) for t, v in conn.execute(
            select(u.card_token, func.sum(j.amount)).join(s.users, u.id == j.user_id)
            .where(j.kind == "deduct_card").group_by(u.card_token))})


def test_a_stack_s_workers_debit_the_simulator_process_and_its_ledger_is_the_card_journals(
        fresh_postgres_url, make_stack):
    engine = testing.seeded(fresh_postgres_url, USERS, START, CHUNK)
    with engine.connect() as conn:
        seeded_cards = {r.card_token: int(r.balance) for r in conn.execute(
            select(s.users.c.card_token, s.sim_bank_accounts.c.balance)
            .join(s.users, s.users.c.id == s.sim_bank_accounts.c.user_id))}
        user_ids = set(conn.execute(select(s.users.c.id)).scalars())
    st = make_stack(fresh_postgres_url)
    assert st.bank is not None and st.env["CREDITCYCLE_BANK_URL"] == st.bank.url
    admin = st.bank_admin()
    try:
        some = sorted(seeded_cards)[:3]
        before = {u: admin.card(u)["balance"] for u in some}
        assert before == {u: seeded_cards[u] for u in some}  # the bulk load seeded them
        api.submit("creditcycle.cycle.run", date=START.isoformat())
        wait_closed(engine, START)
        ledger = admin.ledger()
    finally:
        admin.close()
    taken: Counter[str] = Counter()
    for d in ledger:
        taken[d["card_token"]] += d["taken"]
    assert {d["card_token"] for d in ledger} <= set(seeded_cards)  # by token,
    assert not {d["card_token"] for d in ledger} & user_ids         # never by user id
    booked = _card_journals(engine)
    assert +taken == +booked
    assert sum(booked.values()) > 0  # the night took money from cards, over HTTP
    with engine.connect() as conn:
        assert ledger_checks.check_all(conn) == []
        # the in-database simulator was never asked: nothing recorded there
        assert conn.execute(select(func.count()).select_from(s.sim_bank_requests)).scalar() == 0


def _without_bank() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in BANK_VARIABLES}
    env["CREDITCYCLE_CONTACT_SECRET"] = "a-secret-for-this-test"
    return env


def test_a_celery_worker_with_no_bank_configured_refuses_to_start_naming_the_variable(
        redis_url):
    env = {**_without_bank(), "REDIS_URL": redis_url}
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "-Q", "cycle",
         "-c", "1", "--without-gossip", "--without-mingle"],
        env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "error: CREDITCYCLE_BANK_URL: is required outside a local demo" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_worker_command_refuses_without_a_bank_and_a_bank_url_without_its_secret(
        redis_url):
    env = {**_without_bank(), "REDIS_URL": redis_url}
    cmd = [sys.executable, "-m", "cli.main", "worker"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("error: CREDITCYCLE_BANK_URL: is required outside a local "
                                  "demo")
    env["CREDITCYCLE_BANK_URL"] = "http://127.0.0.1:9"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("error: CREDITCYCLE_BANK_SECRET: is required with "
                                  "CREDITCYCLE_BANK_URL")
    env["CREDITCYCLE_BANK_URL"] = "ftp://bank"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("error: CREDITCYCLE_BANK_URL: 'ftp://bank' ")


def test_a_local_demo_worker_without_a_bank_debits_the_simulator_in_the_database(
        monkeypatch, sqlite_url):
    from cli import run_cmds
    from store.debits import SimulatedBank
    from workers import runtime, settings

    for name in BANK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    settings.reset()
    runtime.reset()
    try:
        run_cmds._need_bank(local_demo=True)
        assert os.environ["CREDITCYCLE_LOCAL_BANK"] == "1"
        assert isinstance(runtime.channel(), SimulatedBank)
    finally:
        monkeypatch.delenv("CREDITCYCLE_LOCAL_BANK", raising=False)
        settings.reset()
        runtime.reset()


def test_a_worker_process_with_a_bank_url_debits_it_over_http(monkeypatch):
    from adapters.bank_http import HttpBank
    from workers import runtime, settings

    monkeypatch.setenv("CREDITCYCLE_BANK_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CREDITCYCLE_BANK_SECRET", "s")
    monkeypatch.setenv("CREDITCYCLE_BANK_READ_TIMEOUT", "2.5")
    monkeypatch.delenv("CREDITCYCLE_LOCAL_BANK", raising=False)
    settings.reset()
    runtime.reset()
    try:
        bank = runtime.channel()
        assert isinstance(bank, HttpBank)
        assert (bank.url, bank.timeouts.read) == ("http://127.0.0.1:9", 2.5)
    finally:
        settings.reset()
        runtime.reset()


def test_the_workers_time_every_bank_call_and_the_bench_splits_the_deduct_by_it(
        fresh_postgres_url, redis_url, tmp_path):
    import redis as redis_lib

    from drills.bench import bank_split
    from drills.stack import local_stack

    engine = testing.seeded(fresh_postgres_url, USERS, START, CHUNK)
    samples = tmp_path / "samples"
    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    env = {"CREDITCYCLE_CHUNK_SIZE": str(CHUNK), "PROMETHEUS_MULTIPROC_DIR": str(samples)}
    with local_stack(fresh_postgres_url, redis_url=redis_url, extra_env=env) as st:
        st.start_worker(2, log=tmp_path / "worker.log")
        api.submit("creditcycle.cycle.run", date=START.isoformat())
        wait_closed(engine, START)
    split = bank_split(samples)
    assert split.calls >= 2  # a query, then a debit, for each chunk with money due
    assert 0 < split.bank_s <= split.chunk_s
    assert 0 < split.bank_share <= 1


def test_up_starts_the_bank_simulator_names_its_url_and_stops_it_with_the_rest(tmp_path):
    import signal
    import socket

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        flower_port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "DATABASE_URL", "FLOWER_BASIC_AUTH", *BANK_VARIABLES)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up", "--database-url",
         f"sqlite:///{tmp_path}/cc.db", "--flower-port", str(flower_port),
         "--concurrency", "1"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = ""
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("CREDITCYCLE_BANK_URL="):
                url = line.strip().split("=", 1)[1]
            if line.startswith("Ctrl-C stops everything"):
                break
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(url + "/health", timeout=5).json() == {"ok": True}
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    try:
        httpx.get(url + "/health", timeout=2)
    except httpx.TransportError:
        pass
    else:
        raise AssertionError("the bank simulator outlived `up`")
