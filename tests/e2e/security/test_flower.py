"""Flower is authenticated: `creditcycle flower` refuses to start without credentials
(unless --local-demo), binds to loopback, and answers the dashboard and the API only
with them; a task submitted without them never reaches the broker."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis

from cli import run_cmds as cli
from tests.support.security import CREDITCYCLE, REPO

USER, PASSWORD = "operator", "s3cret-test-only-password"
PAGES = ["/", "/workers", "/tasks", "/broker", "/api/workers", "/api/tasks",
         "/api/task/types", "/api/queues/length", "/api/task/info/nothing"]
SUBMIT = "/api/task/async-apply/creditcycle.repay"
VALID_REPAY = {"kwargs": {"user": "u1", "amount": 100, "reference": "flower-auth"}}


def _env(**extra: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")}
    env.setdefault("CREDITCYCLE_CONTACT_SECRET", "a-deployment-secret")  # not a local demo
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


@pytest.mark.parametrize("auth", [None, "", "operator", "operator-without-a-password"])
def test_creditcycle_flower_refuses_to_start_without_credentials(auth: str | None) -> None:
    proc = subprocess.run([str(CREDITCYCLE), "flower", "--port", "1"], cwd=REPO,
                          env=_env(REDIS_URL="redis://127.0.0.1:1/0", FLOWER_BASIC_AUTH=auth),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "FLOWER_BASIC_AUTH" in proc.stderr
    assert "refuses to start without credentials" in proc.stderr


def test_only_a_local_demo_runs_flower_without_credentials_and_only_on_loopback(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWER_BASIC_AUTH", raising=False)
    cmd = cli.flower_command(5555, local_demo=True)
    assert "--address=127.0.0.1" in cmd
    assert not any(a.startswith("--basic-auth") for a in cmd)
    monkeypatch.setenv("FLOWER_BASIC_AUTH", f"{USER}:{PASSWORD}")
    cmd = cli.flower_command(5555, local_demo=False)
    assert "--address=127.0.0.1" in cmd
    assert not any(a.startswith("--address=0") for a in cmd)


def test_flower_refuses_the_dashboard_and_the_api_without_credentials_and_accepts_them(
        redis_url: str, tmp_path: Path, creditcycle_flower: Any) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    env = _env(REDIS_URL=redis_url, DATABASE_URL=f"sqlite:///{tmp_path}/cc.db",
               FLOWER_BASIC_AUTH=f"{USER}:{PASSWORD}",
               # must not open the API when basic auth is configured
               FLOWER_UNAUTHENTICATED_API="true")
    flower = creditcycle_flower(env)
    wrong = [None, (USER, "wrong"), ("someone", PASSWORD), (USER, ""), (USER, PASSWORD + "x")]
    for path in PAGES:
        for creds in wrong:
            status, _ = flower.request("GET", path, auth=creds)
            assert status == 401, (path, creds, status)
        status, _ = flower.request("GET", path, auth=(USER, PASSWORD))
        assert status in (200, 404), (path, status)  # 404: no such task, once let in
    status, _ = flower.request("GET", "/", auth=(USER, PASSWORD))
    assert status == 200

    body = json.dumps(VALID_REPAY).encode()
    for creds in wrong:
        status, _ = flower.request("POST", SUBMIT, auth=creds, body=body)
        assert status == 401, (creds, status)
    assert client.llen("cycle") == 0, "an unauthenticated submission reached the broker"
    status, answer = flower.request("POST", SUBMIT, auth=(USER, PASSWORD), body=body)
    assert status == 200, answer
    assert client.llen("cycle") == 1, "the authenticated submission should reach the broker"
    client.flushdb()


def test_flower_credentials_are_not_on_any_command_line(
        redis_url: str, tmp_path: Path, creditcycle_flower: Any) -> None:
    """Any local user can read a process's command line (ps, /proc/PID/cmdline)."""
    env = _env(REDIS_URL=redis_url, DATABASE_URL=f"sqlite:///{tmp_path}/cc.db",
               FLOWER_BASIC_AUTH=f"{USER}:{PASSWORD}")
    flower = creditcycle_flower(env)
    assert flower.request("GET", "/api/workers")[0] == 401
    leaked = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if PASSWORD.encode() in cmdline:
            leaked.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    assert leaked == []
