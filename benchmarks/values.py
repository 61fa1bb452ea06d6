"""Benchmarks of what keys and stores a value: nested dicts, the round-trip check.

Run through ``benchmarks/run.py --only values``.  Each figure is measured
against its floor in the same rounds, alternating which goes first.  The
64 MiB miss end to end is in ``benchmarks/misses.py``.
"""

from __future__ import annotations

import pickle
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import xxhash
from rounds import alternating, timed

from recyclable import Cache
from recyclable.codec import decode, encode
from recyclable.fingerprint import fingerprint
from recyclable.roundtrip import digest_or_none

MiB = 1024 * 1024


def nested(depth: int, width: int, leaf: Callable[[int], Any]) -> Any:
    """A dict of dicts ``depth`` levels deep, ``width`` keys each, leaves made by ``leaf``."""
    if depth == 0:
        return leaf(width)
    return {f"k{i}": nested(depth - 1, width, leaf) for i in range(width)}


LEAVES: dict[str, Callable[[int], Any]] = {
    "scalar leaves": lambda i: (i, 2.5, "leaf", None)[i % 4],
    "small-list leaves": lambda i: [i, 2.5, "leaf", None],
}


def bench_values(smoke: bool, workdir: Path, Row: Callable[..., Any]) -> list[Any]:
    """Rows for the values group (see the module docstring), built with the runner's ``Row``."""
    rows = []
    for leaves, leaf in LEAVES.items():
        value = nested(5, 3 if smoke else 6, leaf)
        fingerprint(value)
        ours, floor = alternating(
            lambda v=value: timed(lambda: fingerprint(v)),
            lambda v=value: timed(lambda: xxhash.xxh3_128_digest(pickle.dumps(v, 5))),
            rounds=5 if smoke else 21,
        )
        rows.append(
            Row(
                "values",
                f"nested dict, depth 5, {leaves}",
                ours,
                "pickle + xxh3_128",
                floor,
                "≥ 0.6×",
            )
        )

    size = 1 * MiB if smoke else 64 * MiB
    arg = np.random.default_rng(3).random(size // 8)

    def double(a: np.ndarray) -> np.ndarray:
        return a * 2.0

    counter = iter(range(10_000))

    n = 1000 if smoke else 10_000
    cases = {
        f"{n} dicts (exact, skipped)": [{"id": i, "name": f"r{i}", "x": i * 0.5} for i in range(n)],
        f"{n} objects": [Record(i, f"r{i}", i * 0.5) for i in range(n)],
        f"{size // MiB} MiB array": double(arg),
    }
    for case, result in cases.items():
        stream, buffers = encode(result)
        digests = [xxhash.xxh3_128_digest(b) for b in buffers]

        def check(r: Any = result, s: bytes = stream, b: Any = buffers, d: Any = digests) -> None:
            # As the store does it: nothing more when the value is exact by construction.
            before = digest_or_none(r, b, d)
            if before is not None:
                assert digest_or_none(decode(s, b), b, d) == before

        def store(r: Any = result) -> float:
            pool = Cache(workdir / f"store-{next(counter)}").create_pool("p")
            return timed(lambda: pool.store_result(_key(), r, 0.0))

        check_time = statistics.median(timed(check) for _ in range(5))
        store_time = statistics.median(store() for _ in range(3))
        rows.append(
            Row(
                "values",
                f"round-trip check, {case} result",
                check_time,
                "whole store (check included)",
                store_time,
                "report",
            )
        )
    return rows


class Record:
    """A small object with a ``__dict__``, as results of user code often are."""

    def __init__(self, ident: int, name: str, x: float) -> None:
        self.ident = ident
        self.name = name
        self.x = x


def _key() -> Any:
    from recyclable.callkey import ActionSpec

    spec = ActionSpec(lambda: None, name="bench", plugin="bench", version="1", ignore=())
    return spec.key_for({})
