"""The one settings object: documented in one README table, read once, refused naming
the variable; one business time zone; the contact secret required outside a demo."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import ROOT

CREDITCYCLE = Path(sys.executable).parent / "creditcycle"
ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \| ([^|]*) \|")


def _readme_table() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Environment", 1)[1].split("\n#", 1)[0]
    return {m.group(1): m.group(2).strip()
            for line in section.splitlines() if (m := ROW.match(line))}


def _shown(default: Any) -> str:
    if default is None:
        return "—"
    return '`""`' if default == "" else f"`{default}`"


def test_the_readme_table_lists_every_setting_with_its_default_and_nothing_else() -> None:
    from workers import settings

    documented = _readme_table()
    expected = {name: _shown(default) for name, default in settings.names().items()}
    assert documented == expected


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CREDITCYCLE_", "FLOWER_", "REDIS_URL", "DATABASE_URL"))}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


ZONES = ("from workers.celery_app import app; from workers import runtime; "
         "print(app.conf.timezone, runtime.config().time_zone)")


@pytest.mark.parametrize("how", ["config file", "environment"])
def test_beat_keeps_the_time_zone_of_the_business_date(how: str, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"time_zone": "Europe/Berlin"}), encoding="utf-8")
    extra = ({"CREDITCYCLE_CONFIG": str(config)} if how == "config file"
             else {"CREDITCYCLE_TIME_ZONE": "Europe/Berlin"})
    done = _python(ZONES, _clean_env(**extra))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Europe/Berlin", "Europe/Berlin"]


def test_the_settings_are_read_once_until_reset() -> None:
    from workers import settings

    os.environ["CREDITCYCLE_MAX_ATTEMPTS"] = "5"
    try:
        settings.reset()
        assert settings.get().max_attempts == 5
        os.environ["CREDITCYCLE_MAX_ATTEMPTS"] = "6"
        assert settings.get().max_attempts == 5
        settings.reset()
        assert settings.get().max_attempts == 6
    finally:
        os.environ.pop("CREDITCYCLE_MAX_ATTEMPTS", None)
        settings.reset()


@pytest.mark.parametrize(("name", "value", "message"), [
    ("CREDITCYCLE_CHUNK_SIZE", "abc", "'abc' is not an integer"),
    ("CREDITCYCLE_STALL_SECONDS", "soon", "'soon' is not a number"),
    ("CREDITCYCLE_LOG_FORMAT", "xml", "'xml' must be 'json' or 'text'"),
    ("CREDITCYCLE_METRICS_PORT", "http", "'http' is not an integer"),
    ("CREDITCYCLE_SINK_AGENCIES", "ftp://x", "'ftp://x' is not a sink URL: use https://host/..., "
     "file://DIR, or http:// to 127.0.0.1/localhost (tests, demos)"),
    ("CREDITCYCLE_SINK_BUREAU", "https://bureau.example/in",
     "'https://bureau.example/in' needs CREDITCYCLE_SINK_SECRET to sign its batches"),
    ("CREDITCYCLE_SINK_NOTIFICATIONS", "http://notifier.example/in",
     "'http://notifier.example/in': plain http:// is allowed only to 127.0.0.1, ::1 or "
     "localhost; use https://"),
])
def test_a_bad_environment_variable_ends_any_command_naming_it_with_exit_2(
        name: str, value: str, message: str, tmp_path: Path) -> None:
    done = subprocess.run([str(CREDITCYCLE), "cycle", "status", "--database-url",
                           f"sqlite:///{tmp_path}/none.db"], env=_clean_env(**{name: value}),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"error: {name}: {message}\n"


@pytest.mark.parametrize("command", [["worker"], ["beat"], ["flower", "--port", "1"]])
def test_a_deployment_process_refuses_to_start_without_the_contact_secret(
        command: list[str], tmp_path: Path) -> None:
    env = _clean_env(REDIS_URL="redis://127.0.0.1:1/0", FLOWER_BASIC_AUTH="op:pw",
                     CREDITCYCLE_STATE_DIR=str(tmp_path))
    try:
        done = subprocess.run([str(CREDITCYCLE), *command], env=env, capture_output=True,
                              text=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`creditcycle {command[0]}` started without CREDITCYCLE_CONTACT_SECRET")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: CREDITCYCLE_CONTACT_SECRET: is required outside "
                                  "a local demo"), done.stderr
    assert "Traceback" not in done.stderr
