"""Digests do not depend on the process or its hash seed, nor on a set's iteration order."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import large_arrays, reordered_sets, values

from recyclable.fingerprint import fingerprint

HERE = Path(__file__).resolve().parent
SEEDS = ("0", "12345", "4294967295")


class _ExactArrays(pickle.Pickler):
    """Pickles arrays as (shape, dtype, bytes, order): numpy's own pickling of a
    non-contiguous array drops a non-native byte order, which would hand the
    child another value.  A Fortran-contiguous array goes as a Fortran-ordered
    one, since that order is part of its digest."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is np.ndarray and not obj.dtype.hasobject:
            order = "F" if obj.flags.f_contiguous and not obj.flags.c_contiguous else "C"
            return np.ndarray, (obj.shape, obj.dtype, obj.tobytes(order=order), 0, None, order)
        return NotImplemented


def _dumps_exactly(value: Any) -> bytes:
    buffer = io.BytesIO()
    _ExactArrays(buffer, protocol=5).dump(value)
    return buffer.getvalue()


class DigestServer:
    """A fresh interpreter under one PYTHONHASHSEED that fingerprints batches on request."""

    def __init__(self, seed: str) -> None:
        path = os.pathsep.join([str(HERE.parent.parent), os.environ.get("PYTHONPATH", "")])
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "digest_server.py")],
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": path},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def digests(self, batch: list[Any]) -> list[str]:
        """The child's digests of every value in ``batch``."""
        assert self.process.stdin is not None and self.process.stdout is not None
        data = _dumps_exactly(batch)
        self.process.stdin.write(len(data).to_bytes(8, "big") + data)
        self.process.stdin.flush()
        return self.process.stdout.readline().decode().split()

    def close(self) -> None:
        """End the child."""
        assert self.process.stdin is not None
        self.process.stdin.write((0).to_bytes(8, "big"))
        self.process.stdin.close()
        self.process.wait(timeout=60)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture(scope="module")
def servers() -> Iterator[list[DigestServer]]:
    """One digest server per hash seed, for the whole module."""
    started = [DigestServer(seed) for seed in SEEDS]
    try:
        yield started
    finally:
        for server in started:
            server.close()


@given(st.lists(st.one_of(values, large_arrays()), min_size=1, max_size=8))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_digests_are_stable_across_processes_and_hash_seeds(
    servers: list[DigestServer], batch: list[Any]
) -> None:
    """Interpreters with three other PYTHONHASHSEEDs compute the same digest for every value."""
    expected = [fingerprint(value).hex() for value in batch]
    for server in servers:
        assert server.digests(batch) == expected


@given(reordered_sets())
@settings(max_examples=200)
def test_set_digest_ignores_iteration_order(pair: tuple[Any, Any]) -> None:
    """Equal sets whose iteration orders really differ fingerprint the same, alone and nested."""
    first, second = pair
    assume(second is not None)
    assert first == second
    assert list(first) != list(second)  # the orders the hasher sees do differ
    assert fingerprint(first) == fingerprint(second)
    assert fingerprint({"s": first, "n": [first]}) == fingerprint({"s": second, "n": [second]})
    other_kind = frozenset(first) if isinstance(first, set) else set(first)
    assert fingerprint(other_kind) != fingerprint(first)
