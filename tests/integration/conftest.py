"""Fixtures for tests against real remote components, all on 127.0.0.1.

An S3 server (moto's threaded server) runs once per session; each test gets
a bucket of its own.  Dummy credentials are set in the environment here and
only here: the library reads them the way it reads real ones, from the
environment of the process that opens the store (child processes inherit
them).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator

import pytest
from remote_support import DUMMY_CREDENTIALS, S3Location


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 for the whole session, with dummy credentials set."""
    pytest.importorskip("s3fs", reason="the S3 tests need the test extra: pip install '.[test]'")
    server_module = pytest.importorskip(
        "moto.server", reason="the S3 tests need the test extra: pip install '.[test]'"
    )
    saved = {name: os.environ.get(name) for name in DUMMY_CREDENTIALS}
    os.environ.update(DUMMY_CREDENTIALS)
    # The server logs every request through werkzeug; keep test output readable.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def s3(s3_endpoint: str) -> S3Location:
    """A new, empty bucket on the session's S3 server."""
    location = S3Location(s3_endpoint, f"test-{uuid.uuid4().hex[:16]}")
    location.filesystem().mkdir(location.bucket)
    return location
