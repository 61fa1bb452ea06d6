"""bind(), pool handles and the executor wrappers, in one process (threads) and across spawn."""

from __future__ import annotations

import logging
import pickle
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pipeline_actions
import pytest

from recyclable import Cache, ConfigurationError, PoolHandle, bind, current_pool, recycling
from recyclable import decorator as decorator_module
from recyclable.handle import public_storage_options
from recyclable.parallel import BoundCall, RecyclingClient, RecyclingExecutor
from recyclable.store.location import local_path, remote_url


def _active_pool_name() -> str | None:
    pool = current_pool()
    return None if pool is None else pool.name


def test_thread_pools_lose_the_pool_without_bind(cache: Cache) -> None:
    """The problem bind solves: a worker thread starts with no pool, so nothing recycles."""
    with cache.create_pool("p") as pool, ThreadPoolExecutor(1) as executor:
        assert executor.submit(_active_pool_name).result() is None
        executor.submit(pipeline_actions.load_metadata, 3).result()
    assert pool.stats.computed == 0
    assert len(pool) == 0


def test_bound_call_runs_in_the_captured_pool(cache: Cache) -> None:
    """bind captures the active pool; in a worker thread the call runs in it and recycles."""
    with cache.create_pool("p") as pool, ThreadPoolExecutor(1) as executor:
        assert executor.submit(bind(_active_pool_name)).result() == "p"
        first = executor.submit(bind(pipeline_actions.load_metadata), 3).result()
        second = executor.submit(bind(pipeline_actions.load_metadata), 3).result()
    assert first == second == {"sample": [0, 1, 2], "group": [0, 1, 0]}
    # In this process the handle re-opens the very pool object: its stats count.
    assert (pool.stats.computed, pool.stats.loaded) == (1, 1)


def test_bind_captures_at_bind_time_not_call_time(cache: Cache) -> None:
    """A bound call keeps the pool active when it was bound, whatever is active when it runs."""
    with cache.create_pool("first"):
        bound = bind(_active_pool_name)
    with cache.create_pool("second"):
        assert bound() == "first"
        assert _active_pool_name() == "second"  # restored after the call


def test_bind_without_a_pool_calls_plainly(cache: Cache) -> None:
    """With no pool active, the bound call has no handle and runs with no pool."""
    bound = bind(_active_pool_name)
    assert bound.handle is None
    assert bound() is None
    assert bind(bound) is bound  # binding twice keeps the first capture


def test_bind_with_an_explicit_pool_or_handle(cache: Cache) -> None:
    """bind(pool=...) takes a Pool or a PoolHandle instead of the active pool."""
    pool = cache.create_pool("given")
    assert bind(_active_pool_name, pool=pool)() == "given"
    assert bind(_active_pool_name, pool=cache.handle("given"))() == "given"
    assert bind(bind(_active_pool_name), pool=pool)() == "given"


def test_bound_call_pickles_small_and_keeps_its_name(cache: Cache) -> None:
    """A bound action pickles as function + handle, and looks like the function to engines."""
    with cache.create_pool("p"):
        bound = bind(pipeline_actions.load_metadata)
    data = pickle.dumps(bound)
    assert len(data) < 600
    clone = pickle.loads(data)
    assert isinstance(clone, BoundCall)
    assert clone.handle == bound.handle
    assert clone.__name__ == "load_metadata"
    assert clone(2) == {"sample": [0, 1], "group": [0, 1]}


def test_handle_opens_the_same_cache_once_per_process(tmp_path: Path) -> None:
    """Opening a handle twice reuses the cache object; the originating cache is reused too."""
    cache = Cache(tmp_path / "c")
    handle = cache.handle("p")
    assert Cache.from_handle(handle) is cache
    assert handle.open() is handle.open()
    assert handle.open().cache is cache


def _open_twice(handle: PoolHandle) -> tuple[bool, str, int]:
    first, second = handle.open(), handle.open()
    with first:
        pipeline_actions.load_metadata(4)
    return first is second and first.cache is second.cache, first.name, len(first)


def test_handle_reopens_in_a_spawned_process(tmp_path: Path) -> None:
    """In a fresh process a handle opens the same pool on disk, once."""
    cache = Cache(tmp_path / "c")
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as executor:
        same, name, size = executor.submit(_open_twice, cache.handle("p")).result()
    assert (same, name, size) == (True, "p", 1)
    assert len(cache.pool("p")) == 1


def test_recycling_executor_binds_submit_and_map(cache: Cache) -> None:
    """recycling(executor): submit and map recycle; the executor still shuts down with `with`."""
    with cache.create_pool("p") as pool:
        with recycling(ThreadPoolExecutor(2)) as executor:
            assert isinstance(executor, RecyclingExecutor)
            assert executor.submit(_active_pool_name).result() == "p"
            assert list(executor.map(pipeline_actions.load_metadata, [1, 2, 1])) == [
                {"sample": [0], "group": [0]},
                {"sample": [0, 1], "group": [0, 1]},
                {"sample": [0], "group": [0]},
            ]
        with pytest.raises(RuntimeError, match="shutdown"):
            executor.submit(_active_pool_name)
    assert pool.stats.computed + pool.stats.loaded == 3
    assert len(pool) == 2


class _FakeClient:
    """Just Dask's submit/map shape, to check the wrapper binds before delegating."""

    def __init__(self) -> None:
        self.submitted: list[Any] = []
        self.scheduler_info = "delegated"

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self.submitted.append(fn)
        return fn(*args)

    def map(self, fn: Any, *iterables: Any, **kwargs: Any) -> Any:
        self.submitted.append(fn)
        return [fn(*items) for items in zip(*iterables, strict=True)]


def test_recycling_client_binds_and_delegates(cache: Cache) -> None:
    """recycling(client) binds submit/map to the active pool; other attributes are the client's."""
    client = _FakeClient()
    wrapped = recycling(client)
    assert isinstance(wrapped, RecyclingClient)
    with cache.create_pool("p"):
        assert wrapped.submit(_active_pool_name) == "p"
        assert wrapped.map(pipeline_actions.load_metadata, [1]) == [{"sample": [0], "group": [0]}]
    assert all(isinstance(fn, BoundCall) for fn in client.submitted)
    assert wrapped.scheduler_info == "delegated"


def test_recycling_joblib_parallel_binds_tasks_taken_in_other_threads(cache: Cache) -> None:
    """recycling(Parallel) binds every task, also those joblib takes in its dispatch threads."""
    from joblib import Parallel, delayed

    with cache.create_pool("p") as pool:
        names = recycling(Parallel(n_jobs=2, backend="threading", pre_dispatch="1"))(
            delayed(_active_pool_name)() for _ in range(6)
        )
    assert names == ["p"] * 6
    with pool:
        plain = Parallel(n_jobs=2, backend="threading")(
            delayed(_active_pool_name)() for _ in range(2)
        )
    assert plain == [None, None]  # what happens without the wrapper


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bind(3), r"bind\(fn=\.\.\.\) expects a callable, got int"),
        (
            lambda: bind(len, pool="p"),
            r"bind\(pool=\.\.\.\) expects a Pool or a PoolHandle, got str",
        ),
        (lambda: recycling(3), r"recycling\(engine=\.\.\.\) expects .*, got int"),
        (lambda: RecyclingExecutor(object()), r"RecyclingExecutor\(executor=\.\.\.\) .*got object"),
        (lambda: RecyclingClient(3), r"RecyclingClient\(client=\.\.\.\) .*got int"),
        (
            lambda: Cache.from_handle("x"),
            r"from_handle\(handle=\.\.\.\) expects a PoolHandle, got str",
        ),
        (lambda: PoolHandle.of("p"), r"PoolHandle.of\(pool=\.\.\.\) expects a Pool, got str"),
        (lambda: PoolHandle(url=3, pool="p"), r"PoolHandle\(url=\.\.\.\) expects a str, got int"),
    ],
)
def test_bad_arguments_name_the_argument_and_type(call: Any, message: str) -> None:
    """Each wrong argument is a TypeError naming the argument and the type it got."""
    with pytest.raises(TypeError, match=message):
        call()


def test_handles_carry_no_secrets() -> None:
    """Secret-looking storage options are dropped, nested ones too; the rest is kept."""
    options = {
        "endpoint_url": "http://127.0.0.1:9000",
        "key": "AKID",
        "secret": "s",
        "token": "t",
        "anon": False,
        "client_kwargs": {
            "region_name": "eu",
            "aws_secret_access_key": "s",
            "aws_session_token": "t",
        },
        "account_key": "k",
        "sas_token": "t",
        "password": "p",
    }
    assert public_storage_options(options) == {
        "endpoint_url": "http://127.0.0.1:9000",
        "anon": False,
        "client_kwargs": {"region_name": "eu"},
    }


def test_handle_url_drops_a_password(tmp_path: Path) -> None:
    """A password written into a URL does not travel in a handle."""
    from recyclable.handle import _public_url

    assert _public_url("sftp://me:hunter2@127.0.0.1:2222/cache") == "sftp://me@127.0.0.1:2222/cache"
    assert _public_url("s3://bucket/prefix") == "s3://bucket/prefix"


def test_unserialisable_storage_option_is_a_clear_error(tmp_path: Path) -> None:
    """A storage option that cannot travel to another process is reported when a handle is made."""
    cache = Cache(tmp_path / "c")
    cache.storage_options = {"config": object()}
    with pytest.raises(ConfigurationError, match="cannot travel to other processes"):
        cache.handle("p")


@pytest.mark.parametrize(
    ("location", "url", "path"),
    [
        ("s3://bucket/prefix/", "s3://bucket/prefix", None),
        ("gcs://b/p", "gcs://b/p", None),
        ("file:///tmp/a%20b", None, "/tmp/a b"),
        ("/tmp/cache", None, "/tmp/cache"),
        ("relative/dir", None, "relative/dir"),
    ],
)
def test_locations_choose_the_store(location: str, url: str | None, path: str | None) -> None:
    """Object-store URLs go to fsspec; directories and file:// URLs stay on the local store."""
    assert remote_url(location) == url
    if path is not None:
        assert local_path(location) == path


def test_file_url_opens_a_local_cache(tmp_path: Path) -> None:
    """Cache('file:///...') is the same local cache as the plain directory path."""
    from recyclable.store.local import LocalStore

    cache = Cache((tmp_path / "c").as_uri())
    assert isinstance(cache.store, LocalStore)
    assert cache.path == tmp_path / "c"


def test_no_pool_note_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """The first call with no pool in a process logs one INFO note; later calls stay silent."""
    # Re-arm the once-per-process note (an earlier test may have given it).
    decorator_module._maybe_active.add(decorator_module._NOTE_PENDING)
    try:
        with caplog.at_level(logging.INFO, logger="recyclable"):
            assert pipeline_actions.load_metadata(1) == {"sample": [0], "group": [0]}
            pipeline_actions.load_metadata(2)
            other = threading.Thread(target=pipeline_actions.load_metadata, args=(3,))
            other.start()
            other.join(timeout=60)
    finally:
        decorator_module._maybe_active.discard(decorator_module._NOTE_PENDING)
    notes = [r for r in caplog.records if "no active pool" in r.getMessage()]
    assert len(notes) == 1
    assert notes[0].levelno == logging.INFO
    assert "load_metadata" in notes[0].getMessage()


def _signed_square_in_worker(handle: PoolHandle, x: int) -> str:
    try:
        with handle.open():
            return repr(pipeline_actions.square(x)["square"])
    except ConfigurationError as exc:
        return f"error: {exc}"


def test_signed_cache_travels_without_its_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handle says a cache is signed but never carries the secret; workers take it from
    RECYCLABLE_SECRET, and without it refuse rather than write unsigned entries."""
    cache = Cache(tmp_path / "signed", secret="s3cret")
    handle = cache.handle("p")
    assert handle.signed and b"s3cret" not in pickle.dumps(handle)
    context = get_context("spawn")
    monkeypatch.delenv("RECYCLABLE_SECRET", raising=False)
    with ProcessPoolExecutor(1, mp_context=context) as executor:
        refused = executor.submit(_signed_square_in_worker, handle, 3).result()
    assert refused.startswith("error: ") and "RECYCLABLE_SECRET is not set" in refused
    monkeypatch.setenv("RECYCLABLE_SECRET", "s3cret")
    with ProcessPoolExecutor(1, mp_context=context) as executor:
        assert executor.submit(_signed_square_in_worker, handle, 3).result() == "9"
    pool = cache.create_pool("p", reuse=True)
    with pool:
        assert pipeline_actions.square(3)["square"] == 9  # loaded: signed with the same secret
    assert pool.stats.loaded == 1
