"""``recyclable cache ...``: info, pools, show, explain, remove, gc budgets and verify."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import Outcome

from recyclable import Cache, RunRecord, recyclable

pytestmark = pytest.mark.usefixtures("plugin_path")
Cli = Callable[..., Outcome]


@recyclable
def blob(seed: int, size: int = 20_000) -> np.ndarray:
    return np.random.default_rng(seed).random(size)


@pytest.fixture
def filled(tmp_path: Path) -> Cache:
    """A cache with pool 'a' (seeds 1, 2) and pool 'b' (seed 2, shared, and 3)."""
    cache = Cache(tmp_path / "cache")
    with cache.create_pool("a"):
        blob(1)
        blob(2)
    with cache.create_pool("b"):
        blob(2)
        blob(3)
    return cache


def _json(result: Outcome) -> object:
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_info(cli: Cli, filled: Cache) -> None:
    """info reports location, format, counts and a size covering the stored arrays."""
    data = _json(cli("cache", "info", "--use-cache", str(filled.path), "--json"))
    assert isinstance(data, dict)
    assert data["path"] == str(filled.path)
    assert (data["format"], data["entries"], data["blobs"], data["pools"]) == (1, 3, 3, 2)
    assert data["bytes"] > 3 * 20_000 * 8
    table = cli("cache", "info", "--use-cache", str(filled.path))
    assert "format version  1" in table.out and "pools           2" in table.out


def test_pools(cli: Cli, filled: Cache) -> None:
    """pools lists each pool's entries, bytes and last use, as a table or JSON."""
    data = _json(cli("cache", "pools", "--use-cache", str(filled.path), "--json"))
    assert isinstance(data, list)
    by_name = {p["name"]: p for p in data}
    assert sorted(by_name) == ["a", "b"]
    assert by_name["a"]["entries"] == 2 and by_name["b"]["entries"] == 2
    assert by_name["a"]["bytes"] > 2 * 20_000 * 8
    assert abs(by_name["a"]["last_used"] - time.time()) < 600
    text = cli("cache", "pools", "--use-cache", str(filled.path)).out
    assert text.splitlines()[0].split() == ["POOL", "ENTRIES", "BYTES", "LAST", "USED", "RUNS"]
    assert text.splitlines()[2].split()[:2] == ["a", "2"]


def test_show(cli: Cli, filled: Cache) -> None:
    """show lists a pool's entries: action, arguments, size, compute time, creation time."""
    data = _json(cli("cache", "show", "a", "--use-cache", str(filled.path), "--json"))
    assert isinstance(data, list) and len(data) == 2
    assert {e["action"] for e in data} == {"blob"}
    assert all([name for name, _ in e["arguments"]] == ["seed", "size"] for e in data)
    assert all(e["bytes"] > 20_000 * 8 and e["created"] for e in data)
    text = cli("cache", "show", "a", "--use-cache", str(filled.path)).out
    assert "ACTION" in text and "seed=" in text


def test_explain_hit_and_miss(cli: Cli, tmp_path: Path) -> None:
    """explain says a stored call would be loaded, and names the changed argument of a miss."""
    cache = str(tmp_path / "cache")
    ran = cli("run", "pipes", "load_reads", "--n", "50", "--seed", "1", "--use-cache", cache,
              "--recycle-pool", "keep")  # fmt: skip
    assert ran.code == 0
    hit = _json(cli("cache", "explain", "pipes", "load_reads", "--n", "50", "--seed", "1",
                    "--use-cache", cache, "--json"))  # fmt: skip
    assert isinstance(hit, dict) and hit["hit"] is True
    miss = _json(cli("cache", "explain", "pipes", "load_reads", "--n", "50", "--seed", "2",
                     "--use-cache", cache, "--json"))  # fmt: skip
    assert isinstance(miss, dict) and miss["hit"] is False
    assert "argument 'seed' changed" in miss["reason"]
    assert "argument 'n'" not in miss["reason"]
    text = cli("cache", "explain", "pipeline_actions:denoise", "--use-cache", cache)
    # An array parameter cannot be given on the command line: a usage error naming it.
    assert text.code == 2
    assert "recyclable cache explain: error: parameter 'reads'" in text.err
    assert "ndarray" in text.err


def test_explain_lists_what_the_code_key_covers(cli: Cli, tmp_path: Path) -> None:
    """explain --code lists the step's code parts: its own code, its helpers, numpy's version."""
    cache = str(tmp_path / "cache")
    Cache(cache)
    data = _json(cli("cache", "explain", "pipes", "load_reads", "--n", "5", "--seed", "1",
                     "--use-cache", cache, "--json", "--code"))  # fmt: skip
    assert isinstance(data, dict)
    parts = data["code_parts"]
    assert {
        "code pipeline_actions.load_reads",
        "code pipeline_actions._ran",
        "dependency numpy",
    } <= set(parts)
    text = cli("cache", "explain", "pipes", "load_reads", "--n", "5", "--seed", "1",
               "--use-cache", cache, "--code").out  # fmt: skip
    assert "code key covers\n  " in text
    assert text.index("code pipeline_actions.load_reads") < text.index("pipeline_actions._ran")
    assert f"{parts['code pipeline_actions._ran'][:16]}  code pipeline_actions._ran" in text


def test_explain_of_a_plain_function(cli: Cli, tmp_path: Path) -> None:
    """explain of a function that is not @recyclable says the call itself is never stored."""
    Cache(tmp_path / "cache")
    result = _json(cli("cache", "explain", "cli_actions:plain", "--n", "3",
                       "--use-cache", str(tmp_path / "cache"), "--json"))  # fmt: skip
    assert isinstance(result, dict) and result["hit"] is False
    assert "not decorated with @recyclable" in result["reason"]


def test_remove(cli: Cli, filled: Cache) -> None:
    """remove drops a pool and the data only it used; shared data stays."""
    result = cli("cache", "remove", "a", "--use-cache", str(filled.path))
    assert result.code == 0
    assert "reclaimed 1 entry" in result.out
    assert filled.pools() == ["b"]
    assert len(list(filled.store.iter_manifest_keys())) == 2


def test_remove_refuses_a_pool_in_use(cli: Cli, filled: Cache) -> None:
    """A pool a live run uses is not removed without --force (exit 1, names the process)."""
    with RunRecord(Cache(filled.path).pool("a")):
        refused = cli("cache", "remove", "a", "--use-cache", str(filled.path))
        assert refused.code == 1
        assert f":{os.getpid()}" in refused.err and "--force" in refused.err
        assert "a" in filled.pools()
        forced = cli("cache", "remove", "a", "--use-cache", str(filled.path), "--force")
        assert forced.code == 0
    assert filled.pools() == ["b"]


@pytest.fixture
def unpooled(tmp_path: Path) -> tuple[Cache, list[str]]:
    """Three unpooled entries (seeds 1, 2, 3), last used 30, 20 and 1 days ago; one pooled entry."""
    cache = Cache(tmp_path / "cache")
    now = time.time()
    keys = []
    for seed, days in ((1, 30), (2, 20), (3, 1)):
        with cache.create_pool(f"tmp{seed}") as pool:
            blob(seed)
            (key,) = pool.keys()
        cache.store.remove_marker(f"tmp{seed}", key)
        cache.store.remove_pool_if_empty(f"tmp{seed}")
        stamp = now - days * 86400
        os.utime(cache.store.manifest_path(key), (stamp, stamp))
        keys.append(key)
    with cache.create_pool("kept"):
        blob(4)
    return cache, keys


def test_gc_dry_run_then_gc(cli: Cli, unpooled: tuple[Cache, list[str]]) -> None:
    """gc --dry-run counts without removing; gc removes every unpooled entry, keeps pooled ones."""
    cache, keys = unpooled
    dry = _json(cli("cache", "gc", "--dry-run", "--use-cache", str(cache.path), "--json"))
    assert isinstance(dry, dict) and dry["garbage"]["entries"] == 3 and dry["dry_run"]
    assert set(keys) <= set(cache.store.iter_manifest_keys())
    done = cli("cache", "gc", "--use-cache", str(cache.path))
    assert done.code == 0 and "removed 3 unpooled entries" in done.out
    assert len(list(cache.store.iter_manifest_keys())) == 1


def test_gc_older_than_evicts_only_old_unpooled_entries(
    cli: Cli, unpooled: tuple[Cache, list[str]]
) -> None:
    """--older-than 7d evicts the 30- and 20-day-old unpooled entries, oldest first."""
    cache, keys = unpooled
    data = _json(cli("cache", "gc", "--older-than", "7d", "--use-cache", str(cache.path), "--json"))
    assert isinstance(data, dict)
    assert data["evicted"] == keys[:2]
    assert data["kept_unpooled"] == 1
    assert set(cache.store.iter_manifest_keys()) >= {keys[2]}
    assert not set(keys[:2]) & set(cache.store.iter_manifest_keys())


def test_gc_max_bytes_evicts_least_recently_used_first(
    cli: Cli, unpooled: tuple[Cache, list[str]]
) -> None:
    """--max-bytes evicts unpooled entries oldest first until the cache fits, never pooled ones."""
    cache, keys = unpooled
    entry = 20_000 * 8
    budget = str(int(2.5 * entry))  # room for the pooled entry and one more
    data = _json(
        cli("cache", "gc", "--max-bytes", budget, "--use-cache", str(cache.path), "--json")
    )
    assert isinstance(data, dict)
    assert data["evicted"] == keys[:2]
    assert data["within_budget"] is True
    assert keys[2] in set(cache.store.iter_manifest_keys())
    tiny = _json(cli("cache", "gc", "--max-bytes", "1K", "--use-cache", str(cache.path), "--json"))
    assert isinstance(tiny, dict)
    assert tiny["evicted"] == [keys[2]] and tiny["within_budget"] is False
    assert "kept" in cache.pools()


def test_verify_quarantines_a_damaged_entry(cli: Cli, filled: Cache) -> None:
    """verify finds a blob with a flipped byte, exits 1, quarantines it; the next verify passes."""
    clean = _json(cli("cache", "verify", "--use-cache", str(filled.path), "--json"))
    assert isinstance(clean, dict) and clean["damaged"] == [] and clean["entries"] == 3
    blob_path = next(p for p in (filled.path / "objects").rglob("*") if p.is_file())
    data = bytearray(blob_path.read_bytes())
    data[100] ^= 0xFF
    blob_path.write_bytes(bytes(data))
    found = cli("cache", "verify", "--use-cache", str(filled.path), "--json")
    assert found.code == 1
    report = json.loads(found.out)
    assert len(report["damaged"]) >= 1
    assert all("fails its checksum" in reason for _, reason in report["damaged"])
    assert not blob_path.exists()
    assert any((filled.path / "quarantine").iterdir())
    again = cli("cache", "verify", "--use-cache", str(filled.path))
    assert again.code == 0 and "all entries verify" in again.out
