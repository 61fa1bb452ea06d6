"""``recyclable run --output PATH``: the result written in the format its extension names.

``.json`` writes JSON, ``.npy`` a numpy array file, any other extension a
recyclable result file (`recyclable.save`).  A value the named format cannot
hold exactly is refused (exit code 2) with the formats that do fit it; the
run's steps are kept, so the same command with a fitting path loads them.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any, TextIO

from recyclable.cli.console import EXIT_USAGE, OutputError
from recyclable.resultfile import save, write_bytes_atomically

__all__ = ["show_result", "write_result"]

_RESULT_FILE = "recyclable result file, read with recyclable.load"


def write_result(value: Any, path: Path | None) -> str | None:
    """Write ``value`` to ``path`` in the format its extension names; the format's name, or None.

    Raises:
        OutputError: the extension names a format that cannot hold the value
            (exit code 2, naming the formats that can), or the file cannot be
            written, or the value cannot be pickled (exit code 1).

    """
    if path is None:
        return None
    suffix = path.suffix.lower()
    if suffix == ".npy" and not _is_ndarray(value):
        raise _refusal(value, path, "numpy .npy holds a numpy array (of a non-object dtype)")
    if suffix == ".json" and not _json_able(value):
        raise _refusal(
            value,
            path,
            "JSON holds dicts with string keys, lists, strings, finite numbers, booleans "
            "and None exactly",
        )
    try:
        if suffix == ".npy":
            import numpy as np

            buffer = io.BytesIO()
            np.save(buffer, value, allow_pickle=False)
            write_bytes_atomically(path, buffer.getvalue())
            return "numpy .npy"
        if suffix == ".json":
            text = json.dumps(value, indent=2, allow_nan=False) + "\n"
            write_bytes_atomically(path, text.encode())
            return "JSON"
        save(value, path)
    except Exception as exc:  # any failure to save is reported the same way
        raise OutputError(
            f"could not write the result to {path} ({type(exc).__name__}: {exc})"
        ) from exc
    return _RESULT_FILE


def _refusal(value: Any, path: Path, why: str) -> OutputError:
    fits = []
    if _is_ndarray(value):
        fits.append(f"{path.with_suffix('.npy')} (numpy .npy)")
    if _json_able(value):
        fits.append(f"{path.with_suffix('.json')} (JSON)")
    fits.append(f"{path.with_suffix('.rcy')} or any other extension (recyclable result file)")
    return OutputError(
        f"--output {path}: the result, a {type(value).__module__}.{type(value).__qualname__}, "
        f"cannot be written as {path.suffix} ({why}); formats that fit it: {', '.join(fits)}",
        code=EXIT_USAGE,
    )


def _is_ndarray(value: Any) -> bool:
    cls = type(value)
    return cls.__module__ == "numpy" and cls.__name__ == "ndarray" and value.dtype != object


def _json_able(value: Any, depth: int = 0) -> bool:
    """True when JSON holds ``value`` exactly (loading it gives back equal values and types)."""
    if depth > 100:
        return False
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is list:
        return all(_json_able(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(type(k) is str and _json_able(v, depth + 1) for k, v in value.items())
    return False


def show_result(
    value: Any, written: str | None, path: Path | None, out: TextIO, err: TextIO
) -> None:
    """Say where the result was written, or print its repr (cut at 500 characters)."""
    if written is not None:
        err.write(f"recyclable: wrote the result ({written}) to {path}\n")
        return
    text = repr(value)
    if len(text) > 500:
        text = text[:497] + "..."
    out.write(text + "\n")
