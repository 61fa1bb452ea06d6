"""polars: data frames and series by content; lazy frames refused.

A ``DataFrame`` is keyed by its schema (names and full dtypes, in order) and
its data, which polars writes as an uncompressed Arrow IPC file straight into
the hasher, in Rust and at memory speed (no pickle, no copy of the whole
frame).  Categorical columns are written as strings: their physical codes
depend on a process-wide string cache, not on the value (the dtype, in the
schema, still tells a Categorical from a String).  Each column's flags
(``SORTED_ASC``, ...) are keyed too: polars trusts them, so a column flagged
sorted gives other answers than the same data unflagged.  A ``Series`` is
keyed by its name and the one-column frame it makes.

A ``LazyFrame`` is a plan that names the files it scans and the Python
functions it calls without their content: keyed by its plan, an edited CSV or
UDF would give the stale result.  It is refused with a message to collect it
first (pass ``lf.collect()``, whose content is the value a step reads).
"""

from __future__ import annotations

from typing import IO, Any, cast

import polars as pl

from recyclable.handlers._base import HashSink, Reducer, refuse, standin


def handler_for(cls: type) -> Reducer | None:
    """The reducer for polars types this module covers."""
    if issubclass(cls, pl.DataFrame):
        return standin("polars.DataFrame", frame_standin)
    if issubclass(cls, pl.Series):
        return standin("polars.Series", lambda s: (s.name, frame_standin(s.to_frame())))
    if issubclass(cls, pl.LazyFrame):
        return standin("polars.LazyFrame", _refuse_lazy)
    return None


def frame_standin(df: pl.DataFrame) -> Any:
    """Schema in order (dtypes by their full text) and the IPC digest of the data."""
    schema = [(name, repr(dtype)) for name, dtype in df.schema.items()]
    categorical = [
        name
        for name, dtype in df.schema.items()
        if isinstance(dtype, (pl.Categorical, pl.Enum)) or dtype == pl.Categorical
    ]
    data = df.with_columns(pl.col(categorical).cast(pl.String)) if categorical else df
    if data.n_chunks("all") and max(data.n_chunks("all"), default=1) > 1:
        data = data.rechunk()  # chunk boundaries are layout, not value
    sink = HashSink()
    data.write_ipc(cast(IO[bytes], sink), compression="uncompressed")
    return (schema, df.height, _flags(df), sink.digest())


def _flags(df: pl.DataFrame) -> Any:
    # A column's flags (SORTED_ASC, SORTED_DESC, FAST_EXPLODE) steer polars'
    # fast paths: on a column flagged sorted, max() returns the last value, so
    # equal data with other flags can give another result.  The IPC file
    # drops them; pickle keeps them, so a loaded frame keeps its key.
    return [sorted(column.flags.items()) for column in df.get_columns()]


def _refuse_lazy(lf: Any) -> Any:
    raise refuse(
        lf,
        "a LazyFrame is a plan that names the files it scans and the functions it calls, "
        "not their content, so its key could not see an edited file or function; "
        "pass lf.collect() instead",
    )
