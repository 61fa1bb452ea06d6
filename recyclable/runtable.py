"""The end-of-run table: each step with its nesting, state, time (or time saved) and size.

Plain text, one step a line, columns aligned with spaces so it reads the same
in a terminal and in a log file.  A step that called other steps (the
pipeline action itself, typically) is shown with its steps indented under it
and is not counted among the steps: its time is theirs.  `run_data` gives
the same figures as JSON-able data (``pool.stats.as_dict()``, ``recyclable
run --json``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recyclable.pool import Pool, PoolStats
    from recyclable.steps import Step

__all__ = [
    "counts_text",
    "human_bytes",
    "human_seconds",
    "render_table",
    "run_data",
    "step_table",
    "totals",
]

#: Above this many steps the table groups them by action and state.
MAX_ROWS = 40


def human_seconds(seconds: float) -> str:
    """``4000.0`` → ``1 h 6 min``; short durations keep their fraction."""
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s"


def human_bytes(n: int) -> str:
    """``1536`` → ``1.5 KiB``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def totals(steps: Sequence[Step]) -> dict[str, Any]:
    """Counts and times over the steps, not counting steps that only ran other steps."""
    parents = {step.parent for step in steps if step.parent is not None}
    counted = [step for step in steps if step.key not in parents or step.state == "loaded"]
    enclosing = sorted(
        {step.action for step in steps if step.key in parents and step.state != "loaded"}
    )
    loaded = [s for s in counted if s.state == "loaded"]
    computed = [s for s in counted if s.state == "computed"]
    failed = [s for s in counted if s.state == "failed"]
    kept = {s.key for s in steps if s.state == "loaded" or (s.state == "computed" and s.stored)}
    return {
        "steps": len(counted),
        "loaded": len(loaded),
        "computed": len(computed),
        "failed": len(failed),
        "running": sum(1 for s in counted if s.state == "running"),
        "seconds_saved": round(sum(s.saved for s in loaded), 6),
        "seconds_computing": round(sum(s.seconds for s in computed), 6),
        "kept": len(kept),
        "enclosing": enclosing,
    }


def run_data(stats: PoolStats) -> dict[str, Any]:
    """The pool's numbers, totals and steps as JSON-able data."""
    steps = list(stats.steps)
    return {
        "loaded": stats.loaded,
        "computed": stats.computed,
        "seconds_saved": round(stats.seconds_saved, 6),
        "bytes_read": stats.bytes_read,
        "bytes_written": stats.bytes_written,
        "totals": totals(steps),
        "steps": [step.as_dict() for step in steps],
    }


def step_table(steps: Sequence[Step]) -> list[str]:
    """The table's lines: a header and one row per step (grouped by action when there are many)."""
    rows = _rows(steps) if len(steps) <= MAX_ROWS else _grouped_rows(steps)
    headers = ("STEP", "STATE", "TIME", "SAVED", "SIZE")
    return _align(rows, headers) if rows else ["(no recyclable step ran)"]


def counts_text(t: dict[str, Any]) -> str:
    """``4 step(s) loaded, 1 computed`` (and failed), saying which enclosing steps are left out."""
    text = f"{t['loaded']} step(s) loaded, {t['computed']} computed"
    if t["failed"]:
        text += f", {t['failed']} failed"
    if t["enclosing"]:
        text += f" (not counting {', '.join(t['enclosing'])}, which ran them)"
    return text


def render_table(pool: Pool, *, elapsed: float | None = None, failed: bool = False) -> str:
    """The table of a pool object's steps, with a totals line (and, on failure, what was kept)."""
    steps = pool.steps.snapshot()
    lines = step_table(steps)
    t = totals(steps)
    summary = (
        f"{t['steps']} step(s): {t['loaded']} loaded (saved {human_seconds(t['seconds_saved'])}), "
        f"{t['computed']} computed ({human_seconds(t['seconds_computing'])})"
    )
    if t["failed"]:
        summary += f", {t['failed']} failed"
    summary += (
        f"; read {human_bytes(pool.stats.bytes_read)}, "
        f"wrote {human_bytes(pool.stats.bytes_written)}"
    )
    if t["enclosing"]:
        summary += f"; not counted: {', '.join(t['enclosing'])}, which ran them"
    lines.append(summary)
    if pool.steps.dropped:
        lines.append(f"({pool.steps.dropped} later step(s) were counted but not listed)")
    if failed:
        took = f" after {human_seconds(elapsed)}" if elapsed is not None else ""
        lines.append(
            f"run failed{took}; {t['kept']} finished step(s) kept in pool {pool.name}: "
            "the same run again loads them"
        )
    elif elapsed is not None:
        lines.append(f"run took {human_seconds(elapsed)}")
    return "\n".join(lines)


def _rows(steps: Sequence[Step]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for step in steps:
        loaded = step.state == "loaded"
        rows.append(
            (
                "  " * step.depth + step.action,
                step.state,
                human_seconds(step.elapsed()),
                human_seconds(step.saved) if loaded else "-",
                human_bytes(step.size) if step.size is not None else "-",
            )
        )
    return rows


def _grouped_rows(steps: Sequence[Step]) -> list[tuple[str, ...]]:
    groups: dict[tuple[int, str, str], list[Step]] = {}
    for step in steps:
        groups.setdefault((step.depth, step.action, step.state), []).append(step)
    rows: list[tuple[str, ...]] = []
    for (depth, action, state), members in groups.items():
        size = sum(s.size or 0 for s in members)
        saved = sum(s.saved for s in members)
        rows.append(
            (
                "  " * depth + f"{action} ×{len(members)}",
                state,
                human_seconds(sum(s.elapsed() for s in members)),
                human_seconds(saved) if state == "loaded" else "-",
                human_bytes(size) if size else "-",
            )
        )
    return rows


def _align(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        # Names and states left-aligned, figures right-aligned.
        parts = [
            cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), *(line(r) for r in rows)]
