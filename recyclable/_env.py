"""Environment variables the library reads, parsed strictly."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

from recyclable.errors import ConfigurationError

DISABLE_VAR = "RECYCLABLE_DISABLE"
CACHE_VAR = "RECYCLABLE_CACHE"
SECRET_VAR = "RECYCLABLE_SECRET"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})

# The parsed value is memoised on the raw string so the no-pool fast path pays
# one dict lookup, yet a change of the variable at run time is still seen.
_parsed: dict[str | None, bool] = {}


def parse_bool(name: str, raw: str | None) -> bool:
    """Parse a boolean environment variable; unknown values are an error, never a guess."""
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(
        f"environment variable {name}={raw!r} is not understood: use one of "
        "1/true/yes/on to disable recycling, or 0/false/no/off (or leave it unset) "
        "to enable it"
    )


def _raw_reader(name: str) -> tuple[Callable[[], object], Callable[[object], str | None]]:
    """A reader of the variable's raw value (any hashable), and its decoder to str or None.

    os.environ.get() re-encodes the name, and decodes the value, on every call
    (~1-2 µs); the switch is checked on every recycled call, so read the raw
    mapping os.environ keeps in sync instead, where this Python has one, and
    decode only a value not seen before.
    """
    data = getattr(os.environ, "_data", None)
    encodekey = getattr(os.environ, "encodekey", None)
    decodevalue = getattr(os.environ, "decodevalue", None)
    if isinstance(data, dict) and encodekey is not None and decodevalue is not None:
        key = encodekey(name)

        def decode(raw: object) -> str | None:
            return None if raw is None else str(decodevalue(raw))

        return functools.partial(data.get, key), decode
    return functools.partial(os.environ.get, name), lambda raw: raw


_read_disable, _decode_disable = _raw_reader(DISABLE_VAR)
# The parsed switch by raw value (bytes on POSIX).
_parsed_raw: dict[object, bool] = {}


def recycling_disabled() -> bool:
    """True when ``RECYCLABLE_DISABLE`` is set to a true value."""
    raw = _read_disable()
    result = _parsed_raw.get(raw)
    if result is None:
        text = _decode_disable(raw)
        # Parsed outside any except block: a bad value's error is not chained to a KeyError.
        result = _parsed.get(text)
        if result is None:
            result = _parsed[text] = parse_bool(DISABLE_VAR, text)
        _parsed_raw[raw] = result
    return result


def default_cache_dir() -> str | None:
    """The cache directory named by ``RECYCLABLE_CACHE``, or None when it is unset or empty."""
    raw = os.environ.get(CACHE_VAR)
    return raw if raw else None


def cache_secret() -> str | None:
    """The signing secret named by ``RECYCLABLE_SECRET`` (for workers), or None when unset."""
    raw = os.environ.get(SECRET_VAR)
    return raw if raw else None
