"""Helpers for tests against a loopback S3 server (the fixtures live in integration/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Dummy credentials the S3 fixture puts in the environment (and only there).
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "recyclable-test-key",
    "AWS_SECRET_ACCESS_KEY": "recyclable-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class S3Location:
    """A fresh bucket on the loopback S3 server."""

    endpoint: str
    bucket: str

    def url(self, prefix: str = "cache") -> str:
        return f"s3://{self.bucket}/{prefix}"

    @property
    def options(self) -> dict[str, Any]:
        """Storage options: only where the server is; credentials come from the environment."""
        return {"endpoint_url": self.endpoint}

    def filesystem(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(endpoint_url=self.endpoint, skip_instance_cache=True)
