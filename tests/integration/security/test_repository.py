"""The repository: the compose file protects Redis (password, noeviction, AOF) and takes
every secret from the environment; no secret is committed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.security import REPO

REQUIRED_VAR = re.compile(r"^\$\{([A-Z_]+):\?[^}]*\}$")  # ${NAME:?message}: no default


def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _command(service: dict[str, Any]) -> str:
    cmd = service.get("command", "")
    return " ".join(cmd) if isinstance(cmd, list) else str(cmd)


def test_compose_runs_redis_with_a_password_noeviction_and_an_append_only_file() -> None:
    redis = compose()["services"]["redis"]
    cmd = " ".join(_command(redis).split())
    assert re.search(r"--requirepass \$\{REDIS_PASSWORD:\?[^}]*\}", cmd), cmd
    assert "--maxmemory-policy noeviction" in cmd
    assert "--appendonly yes" in cmd
    assert "ports" not in redis, "Redis must not be published on the host"
    health = " ".join(redis["healthcheck"]["test"])
    assert "REDIS_PASSWORD" in health


def test_every_redis_url_in_compose_carries_the_password() -> None:
    data = compose()
    urls = [v for s in [data.get("x-app", {}), *data["services"].values()]
            for k, v in (s.get("environment") or {}).items() if k == "REDIS_URL"]
    assert urls
    for url in urls:
        assert re.fullmatch(r"redis://:\$\{REDIS_PASSWORD:\?[^}]*\}@redis:6379/\d+", url), url


def test_compose_takes_every_secret_from_the_environment_without_a_default() -> None:
    data = compose()
    secrets = 0
    for service in [data.get("x-app", {}), *data["services"].values()]:
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|AUTH|TOKEN|KEY", key):
                secrets += 1
                assert REQUIRED_VAR.match(str(value)), f"{key}={value}"
            if "://" in str(value) and "@" in str(value):
                credentials = str(value).split("://", 1)[1].split("@", 1)[0]
                password = credentials.split(":", 1)[1]
                assert REQUIRED_VAR.match(password), f"{key}: literal password in URL"
    assert secrets >= 4


def test_compose_publishes_only_flower_and_only_on_loopback() -> None:
    services = compose()["services"]
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert set(published) == {"flower"}
    for port in published["flower"]:
        assert str(port).startswith("127.0.0.1:"), port
    flower = services["flower"]
    assert REQUIRED_VAR.match(flower["environment"]["FLOWER_BASIC_AUTH"])
    assert "basic-auth" not in _command(flower), "credentials belong in the environment"


# ---------------------------------------------------------------- secrets
# Built from parts so that this file does not match itself.
PRIVATE_KEY = re.compile("-----BEGIN ([A-Z]+ )?" + "PRIVATE KEY-----")
STRONG = {
    "private key": PRIVATE_KEY,
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(r"aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+]{40}"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    "Stripe key": re.compile(r"\b[sr]k_live_[0-9A-Za-z]{16,}\b"),
}
ASSIGNED = re.compile(r"(?i)\b[\w.-]*(password|passwd|pwd|secret|token|api_?key|credentials?)"
                      r"[\w.-]*\s*[=:]\s*['\"]([^'\"\s]{4,})['\"]")
URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]*:([^@\s/'\"]+)@")


def placeholder(value: str) -> bool:
    """An environment reference, a variable's name (CREDITCYCLE_SINK_SECRET), a template or
    an obvious stand-in, not a secret."""
    return bool(value.startswith("$") or "{" in value or "<" in value or value.strip(".*") == ""
                or re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+", value)
                or value.lower() in {"password", "user:password", "secret", "changeme-in-env"})


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    out = []
    for name in filter(None, names):
        path = REPO / name
        if path.is_file() and b"\0" not in path.read_bytes()[:8192]:
            out.append(path)
    return out


def test_no_secret_is_committed() -> None:
    files = tracked_text_files()
    assert len(files) > 50
    found = []
    for path in files:
        rel = path.relative_to(REPO).as_posix()
        text = path.read_text(encoding="utf-8", errors="replace")
        for what, pattern in STRONG.items():
            if pattern.search(text):
                found.append((rel, what))
        if rel.startswith("tests/"):
            continue  # credentials of the throwaway servers the tests start
        for m in ASSIGNED.finditer(text):
            if not placeholder(m.group(2)):
                found.append((rel, f"literal {m.group(1)}: {m.group(0)[:60]}"))
        for m in URL_PASSWORD.finditer(text):
            if not placeholder(m.group(1)):
                found.append((rel, f"password in a URL: {m.group(0)[:60]}"))
    assert found == []


def test_no_environment_or_key_file_is_tracked_and_env_files_are_ignored() -> None:
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    bad = [n for n in names if re.search(r"(^|/)\.env($|\.)|\.(pem|key|p12|pfx)$|id_rsa", n)
           and not n.endswith(".example")]
    assert bad == []
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO, check=False)
    assert ignored.returncode == 0, ".env (where compose's secrets go) is not in .gitignore"


def test_the_secret_scan_finds_what_it_looks_for() -> None:
    """The patterns above are not vacuous."""
    key = "-----BEGIN RSA " + "PRIVATE KEY-----"
    assert PRIVATE_KEY.search(key)
    assert STRONG["AWS access key id"].search("AKIA" + "ABCDEFGHIJKLMNOP")
    assert ASSIGNED.search('db_password = "hunter2hunter2"')
    assert not placeholder("hunter2hunter2")
    assert placeholder("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}")
    m = URL_PASSWORD.search("postgresql://app:hunter2@db:5432/x")
    assert m and not placeholder(m.group(1))
