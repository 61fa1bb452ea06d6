"""A rule-based state machine drives two pools (store, load, remove, gc, corrupt, verify)
against a plain model: every call returns the right value, hits and misses are exactly
the model's, and every damaged entry is a warned miss."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from recyclable import Cache, RecyclableWarning, recyclable
from recyclable._context import active_pool
from recyclable.manifest import ManifestError, load_manifest

RUNS: list[int] = []
KEYS = st.integers(min_value=0, max_value=4)
POOLS = st.sampled_from(["p", "q"])
DAMAGE = st.sampled_from(
    ["flip-manifest", "flip-blob", "truncate-blob", "delete-blob", "delete-manifest"]
)


@recyclable
def make(k: int) -> dict[str, object]:
    RUNS.append(k)
    return {"k": k, "values": np.full(9000, float(k))}


class PoolMachine(RuleBasedStateMachine):
    """The model: which keys each pool holds, and which entries are damaged (and how)."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="recyclable-machine-"))
        self.cache = Cache(self.root / "cache")
        self.pools = {name: self.cache.create_pool(name) for name in ("p", "q")}
        self.held: dict[str, set[int]] = {"p": set(), "q": set()}
        self.damaged: dict[int, str] = {}
        active_pool.set(None)

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _entries(self) -> set[int]:
        return self.held["p"] | self.held["q"]

    def _paths_of(self, k: int) -> tuple[Path, Path]:
        for manifest in (self.cache.path / "entries").rglob("*.json"):
            try:  # entries damaged earlier may not parse, or may have lost their blob
                body = load_manifest(manifest.read_bytes())
                blob = self.cache.store.blob_path(body["buffers"][0]["digest"])
                head = blob.read_bytes()[:8]
            except (ManifestError, KeyError, ValueError, OSError):
                continue
            if np.frombuffer(head, dtype=np.float64)[0] == k:
                return manifest, blob
        raise AssertionError(f"entry {k} is not stored")

    @rule(pool=POOLS, k=KEYS)
    def call(self, pool: str, k: int) -> None:
        kind = self.damaged.get(k)
        hit = k in self._entries() and kind is None
        if kind == "delete-manifest":
            warned = k in self.held[pool]
        else:
            warned = kind is not None and k in self._entries()
        before = len(RUNS)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with self.pools[pool]:
                result = make(k)
        ours = [w for w in caught if issubclass(w.category, RecyclableWarning)]
        assert result["k"] == k
        assert np.array_equal(result["values"], np.full(9000, float(k)))  # type: ignore[arg-type]
        assert len(RUNS) - before == (0 if hit else 1)
        assert len(ours) == (1 if warned else 0), [str(w.message) for w in ours]
        self.held[pool].add(k)
        self.damaged.pop(k, None)

    @rule(pool=POOLS)
    def remove_pool(self, pool: str) -> None:
        self.cache.remove_pool(pool, grace=0)
        self.pools[pool] = self.cache.create_pool(pool)
        self.held[pool].clear()
        for k in list(self.damaged):
            if k not in self._entries():
                del self.damaged[k]

    @rule()
    def collect(self) -> None:
        report = self.cache.garbage_collect(grace=0)
        assert report.entries == 0  # every manifest belongs to a pool

    @precondition(lambda self: bool(self._entries() - set(self.damaged)))
    @rule(data=st.data(), how=DAMAGE)
    def corrupt(self, data: st.DataObject, how: str) -> None:
        k = data.draw(st.sampled_from(sorted(self._entries() - set(self.damaged))))
        manifest, blob = self._paths_of(k)
        if how == "flip-manifest":
            raw = bytearray(manifest.read_bytes())
            raw[len(raw) // 2] ^= 0x01
            manifest.write_bytes(bytes(raw))
        elif how == "flip-blob":
            raw = bytearray(blob.read_bytes())
            raw[-1] ^= 0x01
            blob.write_bytes(bytes(raw))
        elif how == "truncate-blob":
            blob.write_bytes(blob.read_bytes()[:-16])
        elif how == "delete-blob":
            blob.unlink()
        else:
            manifest.unlink()
        self.damaged[k] = how

    @rule()
    def verify(self) -> None:
        report = self.cache.verify()
        checkable = {k for k, how in self.damaged.items() if how != "delete-manifest"}
        assert len(report.damaged) == len(checkable)
        for k in checkable:
            del self.damaged[k]
            for held in self.held.values():
                held.discard(k)

    @invariant()
    def no_debris(self) -> None:
        leftovers = list((self.cache.path / "tmp").iterdir())
        leases = [p for p in (self.cache.path / "leases").rglob("*") if p.is_file()]
        assert leftovers == [] and leases == []

    @invariant()
    def pools_match_the_model(self) -> None:
        for name, pool in self.pools.items():
            assert len(pool) == len(self.held[name])


PoolMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=20, deadline=None)
test_pool_machine = PoolMachine.TestCase
