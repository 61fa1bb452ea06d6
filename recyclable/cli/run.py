"""``recyclable run TARGET [PARAMETERS] [OPTIONS]``: run an action in a pool, resumably."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import inspect
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from recyclable import _env
from recyclable.cache import Cache, default_cache_path, validate_pool_name
from recyclable.cli.console import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    OutputError,
    UsageError,
    format_failure,
    print_json,
    progress_lines,
    stderr,
    stdout,
)
from recyclable.cli.invocation import default_pool_name, parse_invocation
from recyclable.cli.output import _json_able, show_result, write_result
from recyclable.cli.targets import Target
from recyclable.errors import (
    CacheFormatError,
    CacheIOError,
    CacheLocationError,
    CachePermissionError,
    ConfigurationError,
    PoolNameError,
)
from recyclable.pool import Pool
from recyclable.runs import ReleaseReport, RunRecord, call_identity
from recyclable.runtable import counts_text, human_bytes, human_seconds, step_table, totals

#: Errors of a cache that can be read but not written: a run goes on without a record.
_UNWRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT)


def open_cache(path: Path | None, err: TextIO, *, create: bool) -> Cache:
    """Open (or, with ``create``, create with a message) the cache at ``path`` or the default.

    Raises:
        UsageError: the path cannot be used as a cache, or there is none and ``create`` is false.

    """
    where = (path if path is not None else default_cache_path()).expanduser()
    existed = (where / "VERSION").is_file()
    if not existed and not create:
        raise UsageError(
            f"no recyclable cache at {where} (a cache is created by the first `recyclable run`); "
            "pass --use-cache PATH to name another one"
        )
    try:
        cache = Cache(where)
    except (CacheLocationError, CacheFormatError, CachePermissionError) as exc:
        raise UsageError(f"--use-cache {where}: {exc}") from None
    except CacheIOError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"--use-cache {where}: cannot create the cache ({exc})") from None
    if not existed:
        err.write(f"recyclable: created cache at {cache.path}\n")
    return cache


def run_command(argv: Sequence[str]) -> int:
    """``recyclable run``: see the module docstring; returns the exit code."""
    out, err = stdout(), stderr()
    invocation = parse_invocation(argv, prog="recyclable run", out=out)
    if invocation is None:
        return EXIT_OK
    target, kwargs, opts = invocation.target, invocation.kwargs, invocation.options
    try:
        disabled = _env.recycling_disabled()
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None
    if opts.no_recycle:
        return _run_without_pool(target, kwargs, opts, out, err, "--no-recycle")
    if disabled:
        # Off means off: no cache is opened or created, nothing is fingerprinted.
        if not opts.quiet:
            err.write(
                f"recyclable: recycling is off ({_env.DISABLE_VAR} is set): steps run as "
                "plain calls, no cache is used, nothing is looked up or stored\n"
            )
        return _run_without_pool(target, kwargs, opts, out, err, f"{_env.DISABLE_VAR} is set")
    named = opts.recycle_pool is not None  # "" is a (bad) name, not the default pool
    pool_name = opts.recycle_pool if named else default_pool_name(target.plugin, target.action)
    try:
        validate_pool_name(pool_name)
    except PoolNameError as exc:
        option = "--recycle-pool" if named else "the default pool name"
        hint = "" if named else "; name a pool with --recycle-pool NAME"
        raise UsageError(f"{option}: {exc}{hint}") from None
    if getattr(target.func, "__recyclable__", None) is None:
        err.write(
            f"recyclable: warning: {target.label} is not decorated with @recyclable: the call "
            "itself is never stored or loaded, only the @recyclable steps it calls are\n"
        )
    pool = _open_pool(pool_name, opts, err)
    bound = _bound_arguments(target.func, kwargs)
    record = _start_record(
        RunRecord(pool, identity=call_identity(target.plugin, target.action, bound)), err
    )
    release = opts.recycle_pool is None
    started = time.perf_counter()
    report: ReleaseReport | None = None
    if not opts.quiet:
        pool.progress = err
    try:
        with (
            progress_lines(quiet=opts.quiet, verbose=opts.verbose, stream=err),
            record if record is not None else contextlib.nullcontext(),
            pool,
        ):
            result = _call(target.func, kwargs)
            written = write_result(result, opts.output)
            if record is not None:
                report = record.finish(release=release)
    except KeyboardInterrupt:
        return _end_early(pool, record, opts, (out, err), started, "interrupted", EXIT_INTERRUPTED)
    except OutputError as exc:
        what = "could not save its result"
        return _end_early(pool, record, opts, (out, err), started, what, exc.code, f"{exc}")
    except Exception as exc:  # noqa: BLE001 - the action's own failure, reported as exit 1
        err.write(format_failure(exc, verbose=opts.verbose))
        return _end_early(pool, record, opts, (out, err), started, "failed", EXIT_FAILED)
    elapsed = time.perf_counter() - started
    if not opts.json:
        show_result(result, written, opts.output, out, err)
    _summary(err, pool, elapsed, report, opts)
    _after_run(pool, opts, out, err, elapsed, (result, written), ok=True)
    return EXIT_OK


def _open_pool(pool_name: str, opts: argparse.Namespace, err: TextIO) -> Pool:
    cache = open_cache(opts.use_cache, err, create=True)
    existed = cache.store.pool_exists(pool_name)
    with progress_lines(quiet=opts.quiet, verbose=opts.verbose, stream=err):
        pool = cache.create_pool(pool_name, reuse=True)
    if opts.recycle_pool is not None and not existed and cache.store.pool_exists(pool_name):
        err.write(f"recyclable: pool {pool_name} did not exist in {cache.path}; created it\n")
    elif existed and not opts.quiet:
        err.write(
            f"recyclable: using existing pool {pool_name} ({len(pool)} stored step(s) "
            "will be loaded where the calls match)\n"
        )
    return pool


def _start_record(record: RunRecord, err: TextIO) -> RunRecord | None:
    try:
        record.start()
    except CacheIOError as exc:
        if exc.errno not in _UNWRITABLE:
            raise
        # A read-only or full cache: what is stored still loads.
        err.write(f"recyclable: warning: {exc}; running without a run record\n")
        return None
    return record


def _run_without_pool(
    target: Target,
    kwargs: dict[str, Any],
    opts: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    why: str,
) -> int:
    started = time.perf_counter()
    try:
        with progress_lines(quiet=opts.quiet, verbose=opts.verbose, stream=err):
            result = _call(target.func, kwargs)
            written = write_result(result, opts.output)
    except KeyboardInterrupt:
        err.write(f"recyclable: interrupted; recycling was off ({why}), nothing was kept\n")
        return EXIT_INTERRUPTED
    except OutputError as exc:
        err.write(f"recyclable: {exc}; recycling was off ({why}), nothing was kept\n")
        return exc.code
    except Exception as exc:  # noqa: BLE001 - the action's own failure, reported as exit 1
        err.write(format_failure(exc, verbose=opts.verbose))
        err.write(f"recyclable: run failed; recycling was off ({why}), nothing was kept\n")
        return EXIT_FAILED
    show_result(result, written, opts.output, out, err)
    err.write(
        f"recyclable: done in {human_seconds(time.perf_counter() - started)}; recycling off "
        f"({why}): nothing looked up or stored\n"
    )
    return EXIT_OK


def _bound_arguments(func: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    try:
        bound = inspect.signature(func).bind(**kwargs)
    except TypeError as exc:
        raise UsageError(f"cannot call {getattr(func, '__qualname__', func)}: {exc}") from None
    bound.apply_defaults()
    return dict(bound.arguments)


def _call(func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(inspect.unwrap(func)):
        return asyncio.run(func(**kwargs))
    return func(**kwargs)


def _end_early(
    pool: Pool,
    record: RunRecord | None,
    opts: argparse.Namespace,
    streams: tuple[TextIO, TextIO],
    started: float,
    what: str,
    code: int,
    note: str | None = None,
) -> int:
    """Report a run that failed or was interrupted: table, elapsed time, what was kept."""
    out, err = streams
    elapsed = time.perf_counter() - started
    _summary(err, pool, elapsed, None, opts)
    if note is not None:
        err.write(f"recyclable: {note}\n")
    err.write(_kept_line(pool, record, what, elapsed) + "\n")
    _after_run(pool, opts, out, err, elapsed, None, ok=False)
    return code


def _kept_line(pool: Pool, record: RunRecord | None, what: str, elapsed: float) -> str:
    store = pool.cache.local_store
    keys = record.keys if record is not None else pool.stats.keys
    kept = sum(1 for key in keys if store.manifest_path(key).exists())
    return (
        f"recyclable: run {what} after {human_seconds(elapsed)}; {kept} finished step(s) kept "
        f"in pool {pool.name} of cache "
        f"{pool.cache.path}; re-run the same command to resume"
    )


def _summary(
    err: TextIO,
    pool: Pool,
    seconds: float,
    report: ReleaseReport | None,
    opts: argparse.Namespace,
) -> None:
    stats = pool.stats
    if report is None:
        fate = "kept"
    elif opts.recycle_pool is not None:
        fate = "kept (--recycle-pool)"
    elif report.pool_removed:
        fate = "removed after success"
    else:
        fate = (
            f"kept: {report.remaining} entr{'y' if report.remaining == 1 else 'ies'} still "
            "needed by other runs (running, or unfinished with other parameters)"
        )
    steps = pool.steps.snapshot()
    if steps and not opts.quiet and not opts.json:
        err.write("\n".join(step_table(steps)) + "\n")
    counted = totals(steps)
    if report is None:
        # A failed run: the table above says what each step did; the kept line follows.
        err.write(
            f"recyclable: {counts_text(counted)}; time saved "
            f"{human_seconds(counted['seconds_saved'])}\n"
        )
        return
    err.write(
        f"recyclable: done in {human_seconds(seconds)}: {counts_text(counted)}; time saved "
        f"{human_seconds(counted['seconds_saved'])}; "
        f"read {human_bytes(stats.bytes_read)}, wrote {human_bytes(stats.bytes_written)}; "
        f"pool {pool.name} in cache {pool.cache.path}: {fate}\n"
    )
    if opts.verbose and stats.keys:
        err.write(f"recyclable: keys used: {' '.join(sorted(stats.keys))}\n")


def _after_run(
    pool: Pool,
    opts: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    elapsed: float,
    outcome: tuple[Any, str | None] | None,
    *,
    ok: bool,
) -> None:
    """Write the --report page and the --json document, if asked for."""
    if opts.report is not None:
        try:
            path = pool.report(opts.report)
        except OSError as exc:
            err.write(f"recyclable: could not write the report to {opts.report} ({exc})\n")
        else:
            err.write(f"recyclable: wrote the run's report to {path}\n")
    if opts.json:
        data: dict[str, Any] = {
            "ok": ok,
            "elapsed": round(elapsed, 6),
            "pool": pool.name,
            "cache": str(pool.cache.path),
            "run": pool.stats.as_dict(),
        }
        if outcome is not None:
            result, written = outcome
            data["output"] = str(opts.output) if written is not None else None
            data["result"] = result if written is None and _json_able(result) else None
            data["result_repr"] = None if written is not None else repr(result)[:500]
        print_json(data, out)
