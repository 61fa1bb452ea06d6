"""RECYCLABLE_DISABLE: off means off, parsed strictly."""

from __future__ import annotations

from pathlib import Path

import pytest

from recyclable import Cache, ConfigurationError, recyclable

RUNS: list[int] = []


@recyclable
def step(x: int) -> int:
    RUNS.append(x)
    return x


def setup_function() -> None:
    RUNS.clear()


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on", " On "])
def test_true_values_disable(value: str, cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the switch on, calls in a pool run every time and nothing is stored."""
    monkeypatch.setenv("RECYCLABLE_DISABLE", value)
    with cache.create_pool("p") as pool:
        step(1)
        step(1)
    assert RUNS == [1, 1]
    assert len(pool) == 0
    assert list((cache.path / "entries").rglob("*.json")) == []


@pytest.mark.parametrize("value", ["0", "false", "no", "off", ""])
def test_false_values_enable(value: str, cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the switch off (or empty), recycling works."""
    monkeypatch.setenv("RECYCLABLE_DISABLE", value)
    with cache.create_pool("p"):
        step(1)
        step(1)
    assert RUNS == [1]


def test_unknown_value_is_a_clear_error(cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown value names the variable and the accepted values, at `with pool:`."""
    monkeypatch.setenv("RECYCLABLE_DISABLE", "maybe")
    with pytest.raises(ConfigurationError) as info, cache.create_pool("p"):
        pass
    message = str(info.value)
    assert "RECYCLABLE_DISABLE='maybe'" in message
    assert "1/true/yes/on" in message
    assert "0/false/no/off" in message
    assert isinstance(info.value, ValueError)


def test_switch_read_at_call_time(cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    """Setting the variable inside an active pool turns recycling off for later calls."""
    with cache.create_pool("p"):
        step(1)
        monkeypatch.setenv("RECYCLABLE_DISABLE", "1")
        step(1)
        monkeypatch.setenv("RECYCLABLE_DISABLE", "0")
        step(1)
    assert RUNS == [1, 1]


def test_default_cache_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cache() lives where RECYCLABLE_CACHE says."""
    monkeypatch.setenv("RECYCLABLE_CACHE", str(tmp_path / "from-env"))
    assert Cache().path == tmp_path / "from-env"
    assert (tmp_path / "from-env" / "VERSION").is_file()


def test_default_cache_is_the_user_cache_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without RECYCLABLE_CACHE the default is the platform's user cache directory."""
    import platformdirs

    from recyclable import default_cache_path

    monkeypatch.delenv("RECYCLABLE_CACHE")
    expected = Path(platformdirs.user_cache_dir("recyclable", appauthor=False))
    assert default_cache_path() == expected
    assert not str(expected).startswith("/tmp")
