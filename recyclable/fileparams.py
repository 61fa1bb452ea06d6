"""Parameters declared as input files: which they are, and the digest of their value.

A parameter is an input file when ``@recyclable(files=[...])`` names it or
its annotation is `recyclable.files.InputFile` (or a list or tuple of it);
its value is then keyed by the content of the file or files it names.
"""

from __future__ import annotations

import inspect
import os
import re
import typing
from collections.abc import Callable
from typing import Any

from recyclable.errors import FingerprintError
from recyclable.files import InputFile
from recyclable.fingerprint import digest_value

__all__ = ["annotated_files", "file_argument"]


def file_argument(value: Any) -> bytes:
    """Digest of an argument named in files=: a path, a list or tuple of paths, or None."""
    if value is None:
        return digest_value(None)
    if isinstance(value, (str, os.PathLike)):
        return digest_value(InputFile(value))
    if isinstance(value, (list, tuple)):
        for item in value:
            if not isinstance(item, (str, os.PathLike)):
                raise FingerprintError(
                    [],
                    type(item).__name__,
                    "files=[...] expects paths here; pass str or os.PathLike",
                )
        return digest_value(type(value)(InputFile(item) for item in value))
    raise FingerprintError(
        [],
        type(value).__name__,
        "the parameter is declared an input file (files=[...] or an InputFile annotation) "
        "but its value is not a path; pass a str or os.PathLike",
    )


def annotated_files(func: Callable[..., Any], params: list[inspect.Parameter]) -> set[str]:
    """Parameters annotated ``InputFile`` or a list/tuple of it (string annotations too)."""
    found = set()
    for param in params:
        annotation = param.annotation
        if isinstance(annotation, str):
            if re.search(r"\bInputFile\b", annotation):
                found.add(param.name)
        elif annotation is InputFile or InputFile in typing.get_args(annotation):
            found.add(param.name)
    return found
