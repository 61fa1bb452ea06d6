"""Actions with one parameter of each type the command line converts, for the CLI tests."""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Literal

import numpy as np

from recyclable import recyclable


class Mode(enum.Enum):
    """A choice given by member name."""

    FAST = "fast"
    CAREFUL = "careful"


@recyclable
def typed(
    count: int,
    ratio: float = 0.5,
    label: str = "x",
    strict: bool = False,
    source: Path = Path("in.txt"),
    sizes: list[int] | None = None,
    mode: Mode = Mode.FAST,
    level: Literal["low", "high"] = "low",
) -> dict[str, object]:
    """Echo every converted parameter with its type name."""
    values = {
        "count": count,
        "ratio": ratio,
        "label": label,
        "strict": strict,
        "source": source,
        "sizes": sizes,
        "mode": mode,
        "level": level,
    }
    return {name: [type(v).__name__, str(v)] for name, v in values.items()}


@recyclable
def array(n: int) -> np.ndarray:
    """An array result (written as .npy)."""
    return np.arange(n, dtype=np.int64)


@recyclable
def mixed(n: int) -> dict[str, object]:
    """A result JSON cannot hold (written in the pool's own format)."""
    return {"array": np.arange(n, dtype=np.float64), "pair": (n, "n")}


def plain(n: int) -> int:
    """Not recyclable itself: it only calls a recyclable step."""
    return int(array(n).sum())


@recyclable
def touch(marker: str) -> str:
    """A step with a side effect on disk, to count its executions."""
    with open(marker, "a") as handle:
        handle.write(f"{os.getpid()}\n")
    return marker


@recyclable
def unpicklable() -> object:
    """A result that cannot be stored (a generator): the run warns and still succeeds."""
    return (i for i in range(3))
