"""Bad product configuration is refused with a ConfigError naming the key.

Generated cases (max_examples): 2,000 mappings with one bad or unknown key through
``ProductConfig.from_mapping``; 100 values that are not a mapping at all; 300 bad
worker configuration files (``CREDITCYCLE_CONFIG``, JSON) through ``runtime.load_config``;
100 files that are not JSON.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from domain.config import ConfigError, ProductConfig
from tests.support.badinput import CASES
from tests.support.strategies import bad_config, values
from workers import runtime
from workers import settings as settings_

SLOW_OK = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]


def names(err: ConfigError, key: str) -> bool:
    """The error names ``key`` (or, for a nested value, ``key.<part>``)."""
    return err.field == key or err.field.startswith(key + ".")


@settings(max_examples=2000, deadline=None, suppress_health_check=SLOW_OK)
@given(bad_config())
def test_a_configuration_with_one_bad_key_is_refused_naming_the_key(
        case: tuple[dict[str, Any], str]) -> None:
    data, key = case
    with pytest.raises(ConfigError) as err:
        ProductConfig.from_mapping(data)
    assert names(err.value, key), (data, err.value)
    assert err.value.message
    CASES["configuration: from_mapping"] += 1


@settings(max_examples=100, deadline=None)
@given(values(json_only=False).filter(lambda v: v is not None and not isinstance(v, dict)))
def test_a_configuration_that_is_not_an_object_is_refused_naming_config(value: Any) -> None:
    with pytest.raises(ConfigError) as err:
        ProductConfig.from_mapping(value)
    assert err.value.field == "config"
    CASES["configuration: not an object"] += 1


def _json_safe(data: Any) -> bool:
    """Whether ``data`` written as JSON reads back as itself (a Python tuple is written
    as a list, which may be a good value: not a bad file)."""
    try:
        return bool(json.loads(json.dumps(data)) == data)
    except (TypeError, ValueError):
        return False


def _load(text: str, chunk_size: str | None = None) -> ProductConfig:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "config.json"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        saved = {k: os.environ.get(k) for k in ("CREDITCYCLE_CONFIG", "CREDITCYCLE_CHUNK_SIZE")}
        os.environ["CREDITCYCLE_CONFIG"] = str(path)
        os.environ.pop("CREDITCYCLE_CHUNK_SIZE", None)
        if chunk_size is not None:
            os.environ["CREDITCYCLE_CHUNK_SIZE"] = chunk_size
        settings_.reset()
        try:
            return runtime.load_config()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            settings_.reset()


@settings(max_examples=300, deadline=None, suppress_health_check=SLOW_OK)
@given(bad_config())
def test_a_worker_configuration_file_with_one_bad_key_is_refused_naming_the_key(
        case: tuple[dict[str, Any], str]) -> None:
    data, key = case
    assume(_json_safe(data))
    with pytest.raises(ConfigError) as err:
        _load(json.dumps(data))
    assert names(err.value, key), (data, err.value)
    CASES["configuration: worker file"] += 1


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40).filter(lambda t: not _parses(t)))
def test_a_worker_configuration_file_that_is_not_json_is_refused_naming_the_setting(
        text: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(text)
    assert err.value.field == "CREDITCYCLE_CONFIG"
    CASES["configuration: worker file not json"] += 1


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("size", ["0", "-3", "10000001"])
def test_a_chunk_size_out_of_range_in_the_environment_is_refused_naming_chunk_size(
        size: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load("{}", size)
    assert err.value.field == "chunk_size"


@pytest.mark.parametrize("size", ["abc", "1.5", " ", "1e3"])
def test_a_chunk_size_that_is_not_an_integer_is_refused_naming_the_variable(size: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load("{}", size)
    assert err.value.field == "CREDITCYCLE_CHUNK_SIZE"
    assert err.value.message == f"{size!r} is not an integer"


def test_an_empty_chunk_size_in_the_environment_counts_as_unset() -> None:
    assert _load("{}", "") == ProductConfig()
