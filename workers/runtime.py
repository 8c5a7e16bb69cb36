"""Per-process resources: the database engine, the product config, the bank channel.

Made lazily in the process that uses them and remade after a fork, so a
forked worker never shares a connection with its parent.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from domain.config import ConfigError, ProductConfig
from store.engine import Engine, database_url, make_engine
from workers import settings
from workers.bank import BankChannel, make_channel


@dataclass
class _State:
    pid: int = -1
    engine: Engine | None = None
    config: ProductConfig | None = None
    channel: BankChannel | None = None
    url: str | None = None


_state = _State()


def reset() -> None:
    """Drop this process's engine, config and channel; a parent's engine is left open."""
    if _state.engine is not None and _state.pid == os.getpid():
        _state.engine.dispose()
    elif _state.engine is not None:
        _state.engine.dispose(close=False)
    close = getattr(_state.channel, "close", None)
    if close is not None and _state.pid == os.getpid():
        close()  # the HTTP bank's connections (a forked child makes its own anyway)
    _state.engine = _state.config = _state.channel = None
    _state.pid = os.getpid()
    settings.reset()


def _check_pid() -> None:
    if _state.pid != os.getpid():
        reset()


def engine() -> Engine:
    """This process's engine for $DATABASE_URL, made on first use."""
    _check_pid()
    url = database_url(settings.get().database_url)
    if _state.engine is not None and _state.url != url:
        reset()
    if _state.engine is None:
        _state.engine = make_engine(url)
        _state.url = url
    return _state.engine


def load_config() -> ProductConfig:
    """The deployment's configuration: CREDITCYCLE_CONFIG (a JSON file) or the defaults,
    with CREDITCYCLE_CHUNK_SIZE and CREDITCYCLE_TIME_ZONE over the file's keys."""
    env = settings.get()
    path = env.config
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8")) if path else {}
    except (OSError, ValueError) as exc:
        raise ConfigError("CREDITCYCLE_CONFIG", f"cannot read {path} as JSON: {exc}") from None
    if env.chunk_size is not None and isinstance(data, dict):
        data["chunk_size"] = env.chunk_size
    if env.time_zone is not None and isinstance(data, dict):
        data["time_zone"] = env.time_zone  # beat's zone and the business date's: one
    return ProductConfig.from_mapping(data)


def config() -> ProductConfig:
    """This process's product config, loaded on first use."""
    _check_pid()
    if _state.config is None:
        _state.config = load_config()
    return _state.config


def channel() -> BankChannel:
    """This process's bank channel, made on first use: the bank over HTTP when
    CREDITCYCLE_BANK_URL is set, the in-database simulator for a local demo, else a
    :class:`~domain.config.ConfigError` naming the variable."""
    _check_pid()
    if _state.channel is None:
        _state.channel = make_channel(settings.get(), engine)
    return _state.channel
