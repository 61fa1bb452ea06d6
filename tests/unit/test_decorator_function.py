"""@recyclable on plain functions: plain calls without a pool, hits, misses, binding, options."""

from __future__ import annotations

import inspect
import mmap
import pickle
import socket
from pathlib import Path

import numpy as np
import pytest

from recyclable import Cache, FingerprintError, RecyclableFunction, current_pool, recyclable

CALLS: list[str] = []


@recyclable
def scale(values: list[int], factor: int = 2) -> list[int]:
    """Multiply every value by ``factor``."""
    CALLS.append("scale")
    return [v * factor for v in values]


@recyclable(name="renamed", plugin="myplugin", ignore=["threads"])
def with_options(x: int, threads: int = 1) -> int:
    CALLS.append("with_options")
    return x + 1


@recyclable
def explode(x: int) -> int:
    CALLS.append("explode")
    raise ValueError(f"bad input {x}")


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


def _entries(cache: Cache) -> list[Path]:
    return sorted((cache.path / "entries").rglob("*.json"))


def test_metadata_is_kept() -> None:
    """The decorated function keeps its name, docstring, signature and __wrapped__."""
    assert scale.__name__ == "scale"
    assert scale.__doc__ == "Multiply every value by ``factor``."
    assert inspect.signature(scale) == inspect.signature(scale.__wrapped__)
    assert list(inspect.signature(scale).parameters) == ["values", "factor"]
    assert isinstance(scale, RecyclableFunction)
    assert scale.__wrapped__.__name__ == "scale"


def test_no_pool_is_a_plain_call(cache: Cache) -> None:
    """Without an active pool the function runs every time and nothing is written."""
    assert current_pool() is None
    assert scale([1, 2]) == [2, 4]
    assert scale([1, 2]) == [2, 4]
    assert CALLS == ["scale", "scale"]
    assert _entries(cache) == []


def test_hit_loads_instead_of_running(cache: Cache) -> None:
    """A second identical call in a pool returns the stored result without running."""
    with cache.create_pool("p"):
        first = scale([1, 2, 3])
        second = scale([1, 2, 3])
    assert first == second == [2, 4, 6]
    assert CALLS == ["scale"]
    assert len(_entries(cache)) == 1


def test_hit_across_pool_objects(cache: Cache, tmp_path: Path) -> None:
    """A fresh Cache object on the same directory (as in a re-run) hits too."""
    with cache.create_pool("p"):
        scale([5])
    again = Cache(tmp_path / "cache")
    with again.create_pool("p", reuse=True):
        assert scale([5]) == [10]
    assert CALLS == ["scale"]


def test_binding_with_defaults_shares_a_key(cache: Cache) -> None:
    """f(x), f(x, 2), f(x, factor=2) and f(values=x, factor=2) are one call."""
    with cache.create_pool("p"):
        scale([1])
        scale([1], 2)
        scale([1], factor=2)
        scale(values=[1], factor=2)
        scale([1], factor=3)
    assert CALLS == ["scale", "scale"]
    assert len(_entries(cache)) == 2


def test_changed_argument_misses(cache: Cache) -> None:
    """Different argument values are different calls; the same value again is a load (control)."""
    with cache.create_pool("p") as pool:
        assert scale([1]) == [2]
        assert scale([2]) == [4]
        assert scale([1.0]) == [2.0]  # type: ignore[list-item]
        assert scale([1]) == [2]
    assert CALLS == ["scale", "scale", "scale"]
    assert (pool.stats.computed, pool.stats.loaded) == (3, 1)


def test_exception_is_not_stored(cache: Cache) -> None:
    """A raising call propagates its own exception and stores nothing; a good call is stored."""
    with cache.create_pool("p") as pool:
        for _ in range(2):
            with pytest.raises(ValueError, match="bad input 3"):
                explode(3)
        assert _entries(cache) == []
        scale([3])  # control: the same pool does store a call that returns
    assert CALLS == ["explode", "explode", "scale"]
    assert len(_entries(cache)) == 1
    assert pool.stats.computed == 1


def test_wrong_arguments_raise_pythons_type_error(cache: Cache) -> None:
    """A call that does not fit the signature fails exactly as the plain function would."""
    with cache.create_pool("p"), pytest.raises(TypeError, match="unexpected keyword"):
        scale([1], nope=3)  # type: ignore[call-arg]
    assert _entries(cache) == []


def test_ignored_argument_is_not_in_the_key(cache: Cache) -> None:
    """An argument named in ignore= can change without causing a miss."""
    with cache.create_pool("p"):
        assert with_options(1, threads=1) == 2
        assert with_options(1, threads=8) == 2
    assert CALLS == ["with_options"]
    manifest = _entries(cache)[0].read_text()
    assert '"action":"renamed"' in manifest
    assert '"plugin":"myplugin"' in manifest
    assert "threads" not in manifest


def test_version_pins_the_key_across_code_changes(cache: Cache) -> None:
    """With version= two different bodies share a key; without it they do not."""

    def body_a(x: int) -> int:
        return x + 1

    def body_b(x: int) -> int:
        return x + 100

    pinned_a = recyclable(name="step", version="1")(body_a)
    pinned_b = recyclable(name="step", version="1")(body_b)
    bumped_b = recyclable(name="step", version="2")(body_b)
    free_a = recyclable(name="free")(body_a)
    free_b = recyclable(name="free")(body_b)
    with cache.create_pool("p"):
        assert pinned_a(1) == 2
        assert pinned_b(1) == 2  # loaded: the pinned version says it is the same
        assert bumped_b(1) == 101
        assert free_a(1) == 2
        assert free_b(1) == 101  # code fingerprint differs


def test_unfingerprintable_argument_names_the_argument(cache: Cache) -> None:
    """A socket inside an argument fails closed, naming the argument and the path to it."""

    @recyclable
    def connect(config: dict[str, object]) -> int:
        return 1

    with (
        socket.socket() as sock,
        cache.create_pool("p"),
        pytest.raises(FingerprintError) as info,
    ):
        connect({"db": sock})
    message = str(info.value)
    assert "argument 'config' → ['db'] → socket.socket" in message
    assert "ignore=" in message
    assert "register_fingerprint" in message
    assert isinstance(info.value, TypeError)


def test_numpy_result_round_trips_read_only(cache: Cache) -> None:
    """A large array result is loaded memory-mapped, equal and read-only."""

    @recyclable
    def make(n: int) -> np.ndarray:
        CALLS.append("make")
        return np.arange(n, dtype=np.float64)

    with cache.create_pool("p"):
        stored = make(100_000)
        loaded = make(100_000)
    assert CALLS == ["make"]
    np.testing.assert_array_equal(stored, loaded)
    assert loaded.dtype == np.float64
    assert not loaded.flags.writeable


def _memory_owner(array: np.ndarray) -> type:
    """The type of the object at the end of an array's chain of bases."""
    base: object = array
    while True:
        if isinstance(base, np.ndarray) and base.base is not None:
            base = base.base
        elif isinstance(base, memoryview):
            base = base.obj
        else:
            return type(None) if base is array else type(base)


def test_mmap_option_copy_on_write_and_in_memory(tmp_path: Path) -> None:
    """Cache(mmap='c') loads writable mapped copies-on-write; mmap=None plain in-memory arrays."""

    @recyclable
    def make(n: int) -> np.ndarray:
        CALLS.append("make")
        return np.ones(n)

    for mode in ("c", None):
        CALLS.clear()
        cache = Cache(tmp_path / f"cache-{mode}", mmap=mode)
        with cache.create_pool("p") as pool:
            stored = make(50_000)
            loaded = make(50_000)
        assert (pool.stats.computed, pool.stats.loaded) == (1, 1)
        assert CALLS == ["make"]
        assert loaded is not stored
        # A mapped load's memory belongs to an mmap object; an in-memory one owns or
        # borrows plain bytes.
        assert (_memory_owner(loaded) is mmap.mmap) is (mode == "c")
        assert loaded.flags.writeable
        loaded[0] = 5.0  # must not touch the stored blob
        with cache.create_pool("p", reuse=True) as again:
            assert make(50_000)[0] == 1.0
        assert again.stats.loaded == 2  # the pool's running count: one more load
        assert CALLS == ["make"]


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [
        ({"name": 3}, TypeError, "name=...) expects a non-empty str, got int"),
        ({"plugin": ""}, TypeError, "plugin=...) expects a non-empty str"),
        ({"version": 1.5}, TypeError, "version=...) expects a str or int, got float"),
        ({"ignore": 5}, TypeError, "ignore=...) expects parameter names, got int"),
        ({"ignore": ["nope"]}, ValueError, "names ['nope'] which are not parameters"),
    ],
)
def test_bad_options_are_clear_errors(options: dict[str, object], error: type, text: str) -> None:
    """Bad decorator options fail at decoration with a message naming the option."""
    with pytest.raises(error) as info:
        recyclable(**options)(lambda x: x)  # type: ignore[call-overload]
    assert text in str(info.value)


def test_decorating_a_non_callable_is_an_error() -> None:
    """@recyclable on something that is not a function says so."""
    with pytest.raises(TypeError, match="must decorate a function"):
        recyclable(42)  # type: ignore[call-overload]


def test_pickles_by_reference() -> None:
    """A decorated module-level function pickles as a reference to itself."""
    assert pickle.loads(pickle.dumps(scale)) is scale
