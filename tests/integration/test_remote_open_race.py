"""Several processes opening one new S3 cache at once all succeed (moto on 127.0.0.1)."""

from __future__ import annotations

import multiprocessing
import os

import race_workers
from remote_support import DUMMY_CREDENTIALS, S3Location

PROCESSES = 5
PREFIXES = 10


def test_concurrent_openers_of_a_new_prefix_all_succeed(s3: S3Location) -> None:
    """Five processes open each of ten new prefixes at the same moment: every open succeeds.

    An opener that found no VERSION, then listed the prefix after another
    opener had created the cache, took it for a foreign prefix and raised
    CacheLocationError.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["race_workers", "s3fs"])
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    urls = [s3.url(f"new-{i}") for i in range(PREFIXES)]
    environ = {name: os.environ[name] for name in DUMMY_CREDENTIALS if name in os.environ}
    openers = [
        context.Process(
            target=race_workers.open_new_caches,
            args=(urls, s3.options, barrier, results, environ),
        )
        for _ in range(PROCESSES)
    ]
    for opener in openers:
        opener.start()
    outcomes = [results.get(timeout=240) for _ in range(PROCESSES * PREFIXES)]
    for opener in openers:
        opener.join(timeout=60)
    assert [o for o in outcomes if o != "ok"] == []
    assert [opener.exitcode for opener in openers] == [0] * PROCESSES
    fs = s3.filesystem()
    for i in range(PREFIXES):
        assert fs.cat_file(f"{s3.bucket}/new-{i}/VERSION").startswith(b"recyclable cache\n")
