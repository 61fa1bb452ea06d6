"""Fail, or lose a worker, then resume: pipelines whose independent steps run in parallel engines.

Each engine runs the same eight independent steps (`pipeline_actions.cpu_step`)
with the pool on local disk; one run also keeps the pool on S3.  Every step
logs ``start i`` when it really runs, so a re-run shows exactly what was
recomputed.  Where an engine aborts the other steps when one fails (joblib,
a dead worker), which steps finished is read from the pool itself
(`Pool.explain`), and the re-run must compute exactly the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pipeline_actions
import pytest
from pipeline_actions import StepFailed, cpu_step, cpu_work
from remote_support import S3Location

from recyclable import Cache, Pool, recycling

STEPS = 8
SIZE = 20_000
ALL = set(range(STEPS))
EXPECTED = [cpu_work(i, SIZE) for i in range(STEPS)]
STORED = "stored: the call would be loaded"


def _started(log: Path) -> list[int]:
    """The steps that really ran since the last look (the log is emptied)."""
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return sorted(int(line.split()[1]) for line in lines if line.startswith("start "))


def _stored(pool: Pool) -> set[int]:
    """The steps whose results the pool holds, asked of the store itself."""
    return {i for i in range(STEPS) if pool.explain(cpu_step, i, SIZE) == STORED}


def _spawn_pool(workers: int = 2) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))


def _run_in_processes(
    executor: Any, pool: Pool, log: Path, switches: dict[int, dict[str, Any]] | None = None
) -> list[Any]:
    """Submit every step through a recycling executor; return results or exceptions."""
    outcomes: list[Any] = []
    with pool:
        futures = [
            executor.submit(cpu_step, i, SIZE, log=str(log), **(switches or {}).get(i, {}))
            for i in range(STEPS)
        ]
        wait(futures)
    for future in futures:
        error = future.exception()
        outcomes.append(error if error is not None else future.result())
    return outcomes


def _fail_then_resume_in_processes(pool: Pool, log: Path) -> None:
    # One executor for the three runs: the pool is captured per submission.
    with recycling(_spawn_pool()) as executor:
        _fail_then_resume(executor, pool, log)


def _fail_then_resume(executor: Any, pool: Pool, log: Path) -> None:
    failed = _run_in_processes(executor, pool, log, {3: {"fail": True}})
    assert isinstance(failed[3], StepFailed)
    assert [v for i, v in enumerate(failed) if i != 3] == [
        v for i, v in enumerate(EXPECTED) if i != 3
    ]
    assert _started(log) == sorted(ALL)

    assert _run_in_processes(executor, pool, log) == EXPECTED
    assert _started(log) == [3]

    assert _run_in_processes(executor, pool, log) == EXPECTED
    assert _started(log) == []


def test_process_pool_fail_then_resume(tmp_path: Path) -> None:
    """Steps in a spawn ProcessPoolExecutor: after one fails, the re-run computes only that one."""
    pool = Cache(tmp_path / "cache").create_pool("run")
    _fail_then_resume_in_processes(pool, tmp_path / "log")


def test_process_pool_fail_then_resume_with_the_pool_on_s3(tmp_path: Path, s3: S3Location) -> None:
    """The same with the pool on S3: workers open it from the handle with their own credentials."""
    pool = Cache(s3.url(), storage_options=s3.options).create_pool("run")
    _fail_then_resume_in_processes(pool, tmp_path / "log")


def test_process_pool_worker_death_then_resume(tmp_path: Path) -> None:
    """A worker killed mid-run breaks the pool; the re-run computes just what had not finished."""
    pool = Cache(tmp_path / "cache").create_pool("run")
    log = tmp_path / "log"
    crash: dict[int, dict[str, Any]] = {0: {"crash": True, "after_done": 3}}
    with pool, recycling(_spawn_pool()) as executor:
        futures = [
            executor.submit(cpu_step, i, SIZE, log=str(log), **crash.get(i, {}))
            for i in range(STEPS)
        ]
        wait(futures)
    assert isinstance(futures[0].exception(), BrokenProcessPool)
    _started(log)
    finished = _stored(pool)
    # Step 0 waited until three others had logged "done"; the first two of
    # them were stored before the third started.
    assert len(finished) >= 2
    assert 0 not in finished

    with recycling(_spawn_pool()) as executor:
        assert _run_in_processes(executor, pool, log) == EXPECTED
    assert _started(log) == sorted(ALL - finished)


def test_joblib_loky_fail_then_resume(tmp_path: Path) -> None:
    """joblib.Parallel (loky) aborts on a failure; the re-run computes exactly what was not stored.

    More steps than joblib dispatches up front: the rest are taken from the
    generator in joblib's own threads, where no pool is active.
    """
    from joblib import Parallel, delayed

    pool = Cache(tmp_path / "cache").create_pool("run")
    log = str(tmp_path / "log")

    def run(fail: bool) -> list[int]:
        with pool:
            return list(
                recycling(Parallel(n_jobs=2, backend="loky", batch_size=1))(
                    delayed(cpu_step)(
                        i,
                        SIZE,
                        log=log,
                        fail=fail and i == 0,
                        after_done=2 if fail and i == 0 else 0,
                    )
                    for i in range(STEPS)
                )
            )

    with pytest.raises(StepFailed):
        run(fail=True)
    _started(Path(log))
    finished = _stored(pool)
    assert finished and 0 not in finished

    assert run(fail=False) == EXPECTED
    assert _started(Path(log)) == sorted(ALL - finished)
    assert run(fail=False) == EXPECTED
    assert _started(Path(log)) == []


def _note_to_file(path: str) -> None:
    """Worker initializer: send the library's INFO records to ``path``."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("recyclable")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def test_unbound_step_in_a_worker_runs_and_notes_once(tmp_path: Path) -> None:
    """A step submitted without bind runs plainly in the worker and logs one INFO note."""
    notes = tmp_path / "notes"
    with (
        Cache(tmp_path / "cache").create_pool("run"),
        ProcessPoolExecutor(
            max_workers=1,
            mp_context=get_context("spawn"),
            initializer=_note_to_file,
            initargs=(str(notes),),
        ) as executor,
    ):
        results = [executor.submit(cpu_step, i, SIZE).result() for i in range(3)]
        metadata = executor.submit(pipeline_actions.load_metadata, 2).result()
    assert results == EXPECTED[:3]
    assert metadata == {"sample": [0, 1], "group": [0, 1]}
    lines = notes.read_text().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("INFO cpu_step ran with no active pool")
    assert "recyclable.bind" in lines[0]
    assert not list((tmp_path / "cache" / "entries").rglob("*.json"))  # nothing was stored


# --- Dask: one LocalCluster for the module ------------------------------------------


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """A LocalCluster on 127.0.0.1: 2 worker processes, 1 thread each, no dashboard.

    ``allowed-failures`` is 0 so that a task whose worker died fails at once
    (instead of being retried on another worker): the test then sees what a
    user sees after losing a machine.
    """
    dask = pytest.importorskip("dask", reason="the Dask tests need the test extra")
    distributed = pytest.importorskip("distributed", reason="the Dask tests need the test extra")
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _run_on_dask(
    client: Any, pool: Pool, log: Path, switches: dict[int, dict[str, Any]] | None = None
) -> list[Any]:
    """Map every step over the cluster through a recycling client; results or exceptions."""
    from distributed import wait as dask_wait

    client.wait_for_workers(2, timeout=120)
    with pool:
        futures = [
            recycling(client).submit(
                cpu_step, i, SIZE, log=str(log), pure=False, **(switches or {}).get(i, {})
            )
            for i in range(STEPS)
        ]
    dask_wait(futures)
    return [f.exception() if f.status == "error" else f.result() for f in futures]


def test_dask_fail_then_resume(tmp_path: Path, dask_client: Any) -> None:
    """Steps on a Dask cluster sharing a pool on disk: the re-run computes only the failed one."""
    pool = Cache(tmp_path / "cache").create_pool("run")
    log = tmp_path / "log"
    failed = _run_on_dask(dask_client, pool, log, {5: {"fail": True}})
    assert isinstance(failed[5], StepFailed)
    assert _started(log) == sorted(ALL)

    assert _run_on_dask(dask_client, pool, log) == EXPECTED
    assert _started(log) == [5]
    assert _run_on_dask(dask_client, pool, log) == EXPECTED
    assert _started(log) == []


def test_dask_worker_death_then_resume(tmp_path: Path, dask_client: Any) -> None:
    """A worker process dies mid-run; the re-run computes just the steps that had not finished."""
    from distributed import KilledWorker

    pool = Cache(tmp_path / "cache").create_pool("run")
    log = tmp_path / "log"
    crash: dict[int, dict[str, Any]] = {0: {"crash": True, "after_done": 3}}
    failed = _run_on_dask(dask_client, pool, log, crash)
    assert isinstance(failed[0], KilledWorker)
    _started(log)
    finished = _stored(pool)
    assert len(finished) >= 2
    assert 0 not in finished

    assert _run_on_dask(dask_client, pool, log) == EXPECTED
    assert _started(log) == sorted(ALL - finished)
