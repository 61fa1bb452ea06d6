"""What a decorated call adds with no active pool, against a bare wrapt decorator, in instructions.

    python benchmarks/nopool_instructions.py [--calls N]

Wall clock cannot resolve a few percent of a microsecond on a shared
machine; instruction counts can.  Each variant (the plain function, a bare
``wrapt.decorator`` pass-through, ``@recyclable`` with no pool) runs in its
own child under ``valgrind --tool=callgrind``, counting only inside the
timed loop (``deque(map(f, repeat(1, N)), maxlen=0)``, toggled on
``deque_init``), so start-up and imports are not counted.  Without valgrind,
``perf stat -e instructions:u`` is tried (the loop is then isolated by
running it with N calls and with none).  Prints ``ours / wrapt``: the
instructions recyclable adds per call over the plain call, divided by those
a bare wrapt decorator adds, in a process that never entered a pool and in
one that entered and left one (no context holds a pool any more, so both
take the same shortcut).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve()
# The children import the recyclable of this checkout, as benchmarks/run.py does.
_PATH = [str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")]
CHILD_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, _PATH))}
VARIANTS = ("plain", "wrapt", "recyclable", "recyclable-after-pool")


def _child(variant: str, calls: int) -> None:
    from collections import deque
    from itertools import repeat

    import wrapt

    from recyclable import recyclable

    def plain(x: int) -> int:
        return x + 1

    @wrapt.decorator
    def passthrough(wrapped: object, instance: object, args: tuple, kwargs: dict) -> object:  # type: ignore[type-arg]
        return wrapped(*args, **kwargs)  # type: ignore[operator]

    # Only this variant's wrapper is made: @recyclable gives a plain function a
    # ``__self__`` (see decorator.py), which the bare wrapt peer must not share.
    func = passthrough(plain) if variant == "wrapt" else plain
    if variant.startswith("recyclable"):
        func = recyclable(plain)
    func(1)  # the once-per-process note of a call with no pool is not what is measured
    if variant == "recyclable-after-pool":
        # A process that entered and left a pool: once no context holds it,
        # calls take the shortcut again (see recyclable._context.live).
        import tempfile

        from recyclable import Cache

        with tempfile.TemporaryDirectory() as where, Cache(where).create_pool("p"):
            pass
    deque(map(func, repeat(1, calls)), maxlen=0)


def _command(variant: str, calls: int) -> list[str]:
    return [sys.executable, str(HERE), "--child", variant, "--calls", str(calls)]


def _callgrind(calls: int) -> dict[str, float]:
    jobs = {
        variant: subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                "--collect-atstart=no",
                "--toggle-collect=deque_init*",
                *_command(variant, calls),
            ],
            stdout=subprocess.DEVNULL,
            env=CHILD_ENV,
            stderr=subprocess.PIPE,
            text=True,
        )
        for variant in VARIANTS
    }
    counts = {}
    for variant, job in jobs.items():
        _, err = job.communicate(timeout=900)
        found = re.search(r"Collected\s*:\s*([\d,]+)", err)
        if job.returncode != 0 or found is None:
            raise RuntimeError(f"callgrind failed for {variant}: {err[-500:]}")
        counts[variant] = int(found.group(1).replace(",", "")) / calls
    return counts


def _perf_once(variant: str, calls: int) -> int:
    out = subprocess.run(
        ["perf", "stat", "-x,", "-e", "instructions:u", *_command(variant, calls)],
        env=CHILD_ENV,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    for line in out.stderr.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2].startswith("instructions"):
            if not fields[0].strip().isdigit():
                raise RuntimeError(f"perf cannot count instructions here ({fields[0].strip()})")
            return int(fields[0])
    raise RuntimeError(f"perf stat gave no instruction count: {out.stderr[-300:]}")


def _perf(calls: int) -> dict[str, float]:
    return {v: (_perf_once(v, calls) - _perf_once(v, 0)) / calls for v in VARIANTS}


def measure(calls: int) -> tuple[dict[str, float], str]:
    """Instructions per call of each variant, and the tool that counted them.

    Raises:
        RuntimeError: neither callgrind nor perf can count instructions here.

    """
    problems = []
    if shutil.which("valgrind"):
        try:
            return _callgrind(calls), "callgrind"
        except RuntimeError as exc:
            problems.append(str(exc))
    else:
        problems.append("valgrind is not installed")
    if shutil.which("perf"):
        try:
            return _perf(calls), "perf stat"
        except RuntimeError as exc:
            problems.append(str(exc))
    else:
        problems.append("perf is not installed")
    raise RuntimeError("; ".join(problems))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.calls)
        return 0
    try:
        counts, tool = measure(args.calls)
    except RuntimeError as exc:
        print(f"skipped: no instruction counter available ({exc})")
        return 0
    ours = counts["recyclable"] - counts["plain"]
    after = counts["recyclable-after-pool"] - counts["plain"]
    wrapt = counts["wrapt"] - counts["plain"]
    print(f"instructions per call ({tool}, {args.calls} calls each):")
    for variant in VARIANTS:
        print(f"  {variant:<22} {counts[variant]:10.0f}")
    print(
        f"added over the plain call: recyclable {ours:.0f} (after a pool: {after:.0f}), "
        f"bare wrapt {wrapt:.0f}"
    )
    print(f"ours / wrapt = {ours / wrapt:.3f}, after a pool {after / wrapt:.3f}  (goal ≤ 1.05)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
