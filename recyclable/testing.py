"""The fingerprint contract as a reusable check, for handler authors and for our own handlers.

A library that ships a fingerprint handler (`recyclable.register_fingerprint`
or the ``recyclable.fingerprints`` entry-point group) can run the same contract
the handlers shipped with recyclable are held to::

    # tests/test_recyclable_contract.py of a library
    from recyclable.testing import check_fingerprint_contract

    def equal_pairs():        # module level: a fresh process rebuilds the values
        return [(Thing(1), Thing(1)), (Thing(1), Thing.from_text("1"))]

    def different_pairs():
        return [(Thing(1), Thing(2)), (Thing(1), Thing(1, unit="m"))]

    def test_contract(tmp_path):
        check_fingerprint_contract(equal_pairs, different_pairs, tmp_path=tmp_path)

It checks, and fails with an `AssertionError` saying which pair and which
property otherwise:

* **equal**: both values of each equal pair have one digest;
* **different**: the values of each different pair have different digests;
* **stable**: fresh processes with other ``PYTHONHASHSEED`` values rebuild the
  values and compute the same digests;
* **round trip**: each value, returned by a recyclable step and loaded back
  from a real cache (memory-mapped read-only, and in memory), digests like the
  value stored, and the load really happened (``pool.stats.loaded``);
* **unchanged by reading**: ``repr()`` and the optional ``read`` callback (the
  reads a step typically does, which may fill the library's lazy caches)
  leave every digest as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from recyclable.fingerprint import fingerprint

__all__ = ["check_fingerprint_contract"]

Pairs = Sequence[tuple[Any, Any]]
PairFactory = Callable[[], Pairs]

_CHILD = r"""
import importlib, json, sys
digests = []
for spec in sys.argv[1:]:
    module, _, name = spec.partition(":")
    target = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    pairs = target()
    from recyclable import fingerprint
    digests.append([[fingerprint(a).hex(), fingerprint(b).hex()] for a, b in pairs])
print(json.dumps(digests))
"""


def check_fingerprint_contract(
    make_equal_pairs: PairFactory,
    make_different_pairs: PairFactory,
    *,
    read: Callable[[Any], object] | None = None,
    hash_seeds: Sequence[int] = (0, 4242),
    roundtrip: bool = True,
    tmp_path: str | os.PathLike[str] | None = None,
) -> None:
    """Check the fingerprint contract for the values two factories build.

    Args:
        make_equal_pairs: a module-level function returning pairs of values a
            step cannot tell apart (they must share a digest).
        make_different_pairs: a module-level function returning pairs that a
            step can tell apart (their digests must differ).
        read: what a step typically does with a value (e.g. read lazily
            created attributes); it must not change the digest.
        hash_seeds: a fresh process is started with each ``PYTHONHASHSEED``;
            an empty sequence skips the cross-process check.
        roundtrip: store each value through a real cache and compare the loaded
            value's digest with the original's.
        tmp_path: where the round-trip caches live (a temporary directory if
            not given).

    Raises:
        AssertionError: a property does not hold; the message names it and the pair.
        TypeError: a factory is not a module-level function (a fresh process
            could not rebuild its values).

    """
    specs = [_spec(make_equal_pairs), _spec(make_different_pairs)]
    equal, different = make_equal_pairs(), make_different_pairs()
    digests = [_digests(equal), _digests(different)]
    for i, (a, b) in enumerate(digests[0]):
        assert a == b, f"equal pair {i} of {specs[0]} has two digests: {a} and {b}"
    for i, (a, b) in enumerate(digests[1]):
        assert a != b, f"different pair {i} of {specs[1]} shares the digest {a}"
    for seed in hash_seeds:
        fresh = _fresh_process_digests(specs, seed)
        assert fresh == digests, (
            f"a fresh process with PYTHONHASHSEED={seed} computes other digests "
            f"for {specs}: {fresh} != {digests}"
        )
    if roundtrip:
        values = [value for pairs in (equal, different) for pair in pairs for value in pair]
        if tmp_path is None:
            with tempfile.TemporaryDirectory() as tmp:
                _check_roundtrip(values, Path(tmp))
        else:
            _check_roundtrip(values, Path(tmp_path))

    for kind, pairs, expected in (
        ("equal", equal, digests[0]),
        ("different", different, digests[1]),
    ):
        for i, pair in enumerate(pairs):
            for side, value in enumerate(pair):
                repr(value)
                if read is not None:
                    read(value)
                assert fingerprint(value).hex() == expected[i][side], (
                    f"reading value {side} of {kind} pair {i} changed its digest"
                )


def _spec(factory: PairFactory) -> str:
    module = getattr(factory, "__module__", None)
    name = getattr(factory, "__qualname__", "")
    if not module or "<locals>" in name or "<lambda>" in name or module == "__main__":
        raise TypeError(
            f"check_fingerprint_contract needs module-level factories that a fresh process "
            f"can import; got {factory!r}: define it at the top level of an importable module"
        )
    return f"{module}:{name}"


def _digests(pairs: Pairs) -> list[list[str]]:
    return [[fingerprint(a).hex(), fingerprint(b).hex()] for a, b in pairs]


def _fresh_process_digests(specs: list[str], seed: int) -> Any:
    env = dict(os.environ, PYTHONHASHSEED=str(seed))
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _CHILD, *specs],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"the fresh process failed:\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def _check_roundtrip(values: list[Any], root: Path) -> None:
    from recyclable import Cache
    from recyclable.errors import RecyclableWarning

    for mode in ("r", None):
        cache = Cache(root / f"contract-{mode or 'memory'}", mmap=mode)
        with cache.create_pool("contract") as pool:
            for i, value in enumerate(values):
                stored = fingerprint(value)
                with warnings.catch_warnings():
                    warnings.simplefilter("error", RecyclableWarning)
                    _returned(value)
                    before = pool.stats.loaded
                    loaded = _returned(value)
                assert pool.stats.loaded == before + 1, (
                    f"value {i} ({type(value).__qualname__}) was not loaded back from the "
                    f"cache (mmap={mode!r}): it could not be stored"
                )
                assert fingerprint(loaded) == stored, (
                    f"value {i} ({type(value).__qualname__}) loaded from the cache "
                    f"(mmap={mode!r}) has another digest than the value stored"
                )


def _returned(value: Any) -> Any:
    return _identity(value)


def _identity_impl(value: Any) -> Any:
    return value


def _make_identity() -> Any:
    from recyclable import recyclable

    return recyclable(name="contract-roundtrip", plugin="recyclable.testing")(_identity_impl)


_identity = _make_identity()
