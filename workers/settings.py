"""The one settings object: every environment variable the product reads.

Read once per process (:func:`get`, cached; :func:`reset` after a fork, after the
CLI hands a URL to its own process through the environment, and in tests) and
validated as a whole, so a bad value is refused at start with a
:class:`~domain.config.ConfigError` naming the variable
(``CREDITCYCLE_CHUNK_SIZE: 'abc' is not an integer``). Each field is documented
in the README's table "Environment", which ``tests/integration/infra/test_settings.py`` holds
equal to this class (names and defaults).

This module imports nothing else of ``workers``, so ``schedules`` may read it.
``store`` may not (it imports nothing above it): its callers pass the URL in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.config import ConfigError

#: The contact secret of a local demo (``make demo``, ``creditcycle up`` with its
#: private Redis, ``cycle run --wait`` without ``REDIS_URL``, tests and drills).
LOCAL_DEMO_CONTACT = "creditcycle-dev-contact-secret"


class Settings(BaseSettings):
    """Every variable, by its environment name; an empty value counts as unset."""

    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True,
                                      extra="ignore", frozen=True, populate_by_name=False)

    # ------------------------------------------------------------ the deployment
    database_url: str | None = Field(None, alias="DATABASE_URL")
    redis_url: str | None = Field(None, alias="REDIS_URL")
    flower_basic_auth: SecretStr | None = Field(None, alias="FLOWER_BASIC_AUTH")
    contact_secret: SecretStr | None = Field(None, alias="CREDITCYCLE_CONTACT_SECRET")
    config: Path | None = Field(None, alias="CREDITCYCLE_CONFIG")
    chunk_size: int | None = Field(None, alias="CREDITCYCLE_CHUNK_SIZE")
    time_zone: str | None = Field(None, alias="CREDITCYCLE_TIME_ZONE")
    task_time_limit: int = Field(300, alias="CREDITCYCLE_TASK_TIME_LIMIT", ge=1)
    visibility_timeout: int | None = Field(None, alias="CREDITCYCLE_VISIBILITY_TIMEOUT", ge=1)
    stuck_seconds: int | None = Field(None, alias="CREDITCYCLE_STUCK_SECONDS", ge=1)
    max_attempts: int = Field(3, alias="CREDITCYCLE_MAX_ATTEMPTS", ge=1)
    retry_scale: float = Field(1.0, alias="CREDITCYCLE_RETRY_SCALE", ge=0)
    stall_seconds: float = Field(30.0, alias="CREDITCYCLE_STALL_SECONDS", gt=0)
    state_dir: Path | None = Field(None, alias="CREDITCYCLE_STATE_DIR")
    metrics_port: int | None = Field(None, alias="CREDITCYCLE_METRICS_PORT", ge=1, le=65535)
    metrics_addr: str = Field("127.0.0.1", alias="CREDITCYCLE_METRICS_ADDR")
    prometheus_multiproc_dir: Path | None = Field(None, alias="PROMETHEUS_MULTIPROC_DIR")
    log_format: Literal["json", "text"] = Field("json", alias="CREDITCYCLE_LOG_FORMAT")
    chromium: Path | None = Field(None, alias="CREDITCYCLE_CHROMIUM")
    now: str | None = Field(None, alias="CREDITCYCLE_NOW")
    bank_url: str | None = Field(None, alias="CREDITCYCLE_BANK_URL",
                                 pattern=r"^https?://[^\s/]+")
    bank_secret: SecretStr | None = Field(None, alias="CREDITCYCLE_BANK_SECRET")
    bank_connect_timeout: float = Field(3.0, alias="CREDITCYCLE_BANK_CONNECT_TIMEOUT", gt=0)
    bank_read_timeout: float = Field(10.0, alias="CREDITCYCLE_BANK_READ_TIMEOUT", gt=0)
    local_bank: bool = Field(False, alias="CREDITCYCLE_LOCAL_BANK")
    # The outbox sinks (SPEC 14, docs/outbox-sinks.md): unset, that outbox waits.
    sink_secret: SecretStr | None = Field(None, alias="CREDITCYCLE_SINK_SECRET")
    sink_notifications: str | None = Field(None, alias="CREDITCYCLE_SINK_NOTIFICATIONS")
    sink_agencies: str | None = Field(None, alias="CREDITCYCLE_SINK_AGENCIES")
    sink_bureau: str | None = Field(None, alias="CREDITCYCLE_SINK_BUREAU")

    # ------------------------------------------------ drills and tests only
    beat_fast: float | None = Field(None, alias="CREDITCYCLE_BEAT_FAST", gt=0)
    fault: str = Field("", alias="CREDITCYCLE_FAULT")
    pg_bindir: Path | None = Field(None, alias="CREDITCYCLE_PG_BINDIR")
    redis_server: Path | None = Field(None, alias="CREDITCYCLE_REDIS_SERVER")

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("sink_notifications", "sink_agencies", "sink_bureau")
    @classmethod
    def _sink(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        from adapters.sinks import BadSinkConfig, sink_for  # httpx only when a sink is set

        secret = info.data.get("sink_secret")
        name = str(cls.model_fields[str(info.field_name)].alias)
        try:
            sink_for(value, secret.get_secret_value() if secret else None, field=name,
                     secret_field="CREDITCYCLE_SINK_SECRET").close()  # noqa: S106 - a name
        except BadSinkConfig as exc:
            text = str(exc)
            if text.startswith("CREDITCYCLE_SINK_SECRET: "):
                text = f"{value!r} needs CREDITCYCLE_SINK_SECRET to sign its batches"
            raise ValueError(text.removeprefix(f"{name}: ")) from None
        return value

    def sink_url(self, relay: str) -> str | None:
        """The sink URL of ``relay`` (notifications, agencies, bureau), or None."""
        url: str | None = getattr(self, f"sink_{relay}")
        return url

    @property
    def stuck_after(self) -> int:
        """Seconds after which the watchdog re-sends a chunk nobody finished."""
        return self.stuck_seconds or self.task_time_limit * 2

    @property
    def broker_visibility_timeout(self) -> int:
        """Seconds before the broker hands an unacknowledged message to another worker."""
        return self.visibility_timeout or self.task_time_limit * 3

    def contact_secret_or_dev(self) -> str:
        """The contact secret, or a local demo's (the CLI refuses a real deployment
        without one before any worker starts)."""
        if self.contact_secret is None:
            return LOCAL_DEMO_CONTACT
        return self.contact_secret.get_secret_value()


_KINDS = {"int_parsing": "is not an integer", "float_parsing": "is not a number",
          "int_from_float": "is not an integer", "path_type": "is not a path"}


def _refusal(exc: ValidationError) -> ConfigError:
    err = exc.errors()[0]
    name = str(err["loc"][0]) if err["loc"] else "environment"
    shown = f"{err['input']!r}" if "input" in err else ""
    if err["type"] == "value_error":  # a validator's own message, which names the value
        return ConfigError(name, err["msg"].removeprefix("Value error, "))
    what = _KINDS.get(err["type"], err["msg"].replace("Input should be ", "must be ", 1))
    return ConfigError(name, f"{shown} {what}".strip())


def load() -> Settings:
    """The settings as the environment gives them now; a bad value is refused naming it."""
    try:
        return Settings()
    except ValidationError as exc:
        raise _refusal(exc) from None


_cache: dict[int, Settings] = {}


def get() -> Settings:
    """This process's settings, read once (a forked child reads its own)."""
    pid = os.getpid()
    found = _cache.get(pid)
    if found is None:
        _cache.clear()
        found = _cache[pid] = load()
    return found


def reset() -> None:
    """Forget the settings read; the next :func:`get` reads the environment again."""
    _cache.clear()


def names() -> dict[str, Any]:
    """Every variable's name and default, in declaration order (the README's table)."""
    return {str(f.alias): f.default for f in Settings.model_fields.values()}


def export(name: str, value: str) -> None:
    """Set ``name`` in this process's environment (for the workers it starts and the
    code it runs itself) and read the settings again."""
    os.environ[name] = value
    reset()
