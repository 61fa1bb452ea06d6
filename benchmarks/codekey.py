"""Benchmarks of the code part of a key (run by ``python benchmarks/run.py --only codekey``).

* the first-call code fingerprint of a step reaching 200 user functions, against
  a floor of marshalling those 200 code objects (the least any fingerprint of
  them can cost);
* the per-call revalidation of a step reaching 64 functions, and what it adds
  to the key of a call next to a step reaching none; and the same check when
  another global of the module was assigned before each call (the dict version
  tag then always changed, so every entry is compared, as where tags are not
  available);
* the key of a call with three scalars;
* a resume of 20 stored steps in a fresh process, against a fresh process that
  only imports the same modules (alternating, in the same rounds).
"""

from __future__ import annotations

import itertools
import marshal
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recyclable import bytecode, valuememo
from recyclable.codeid import identify

STEP_MODULE = """
from recyclable import recyclable

SCALE = 3
CONFIG = {{"offset": 1, "names": ["a", "b"]}}

{helpers}

@recyclable
def step(x):
    return h0(x) + SCALE
"""


def _helpers(count: int) -> str:
    """``count`` helpers, each calling the next (a chain as deep as it is long)."""
    out = []
    for i in range(count):
        call = f"h{i + 1}(x)" if i + 1 < count else "x"
        out.append(f"def h{i}(x):\n    y = {call} + {i}\n    return y * CONFIG['offset']\n")
    return "\n".join(out)


def _module(workdir: Path, name: str, count: int) -> Any:
    path = workdir / f"{name}.py"
    path.write_text(STEP_MODULE.format(helpers=_helpers(count)))
    sys.path.insert(0, str(workdir))
    try:
        __import__(name)
    finally:
        sys.path.remove(str(workdir))
    return sys.modules[name]


def _cold_identity(step: Any) -> None:
    bytecode._cache.clear()  # as in a fresh process: no code object digested yet
    valuememo._digests.clear()
    identify(step.__wrapped__, bound_defaults=True)


RESUME_STEPS = """
import numpy as np
from recyclable import recyclable

WEIGHTS = {{"w": 2.0}}

def _scale(values, k):
    return values * k * WEIGHTS["w"]

{steps}
"""

RESUME_SCRIPT = """
import sys, time
start = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import numpy as np
import recyclable
import resume_steps
if sys.argv[2] == "resume":
    pool = recyclable.Cache(sys.argv[3]).create_pool("p", reuse=True)
    with pool:
        value = np.arange(100.0)
        for i in range(20):
            value = getattr(resume_steps, f"s{i}")(value)
    assert pool.stats.loaded == 20 or sys.argv[4] == "first", pool.stats
print(time.perf_counter() - start)
"""


def _resume_files(workdir: Path) -> tuple[Path, Path]:
    steps = "\n".join(
        f"@recyclable\ndef s{i}(values):\n    return _scale(values, {i + 1}) / {i + 2}\n"
        for i in range(20)
    )
    (workdir / "resume_steps.py").write_text(RESUME_STEPS.format(steps=steps))
    script = workdir / "resume_script.py"
    script.write_text(textwrap.dedent(RESUME_SCRIPT))
    return script, workdir / "resume-cache"


def _child_seconds(args: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def rows(
    smoke: bool,
    workdir: Path,
    row: Callable[..., Any],
    median_time: Callable[..., float],
) -> list[Any]:
    """The ``codekey`` group's rows (``row`` and ``median_time`` come from run.py)."""
    out = []
    count = 20 if smoke else 200
    wide = _module(workdir, "codekey_wide", count)
    codes = [getattr(wide, f"h{i}").__code__ for i in range(count)]
    ours = median_time(lambda: _cold_identity(wide.step), repeat=3 if smoke else 9)
    floor = median_time(lambda: [marshal.dumps(c) for c in codes], repeat=3 if smoke else 9)
    out.append(
        row(
            "codekey",
            f"first code key, {count} user functions",
            ours,
            "marshal the code (floor)",
            floor,
            "≤ 20 ms",
        )
    )

    deps = _module(workdir, "codekey_deps", 64)
    none = _module(workdir, "codekey_none", 1)
    spec_deps, spec_none = deps.step.__recyclable__, none.step.__recyclable__
    bound = {"x": 1}
    spec_deps.key_for(bound)
    spec_none.key_for(bound)
    identity = spec_deps._identity
    number = 200 if smoke else 20_000
    check = median_time(identity.valid, repeat=7, number=number)
    out.append(row("codekey", "revalidate 64 dependencies", check, "-", None, "≤ 1 µs"))

    # The worst case: another global of the step's module assigned before every
    # call, so the namespace's version tag always changed and every entry is
    # compared again (what every call costs where the tag cannot be read).
    flip = itertools.cycle([0, 1])  # another object each time (the same one keeps the tag)

    def written_then_valid() -> bool:
        deps.UNRELATED = next(flip)
        return identity.valid()

    def written_only() -> None:
        deps.UNRELATED = next(flip)

    worst = median_time(written_then_valid, repeat=7, number=number)
    assignment = median_time(written_only, repeat=7, number=number)
    out.append(
        row(
            "codekey",
            "revalidate 64 deps, module written each call",
            max(worst - assignment, 1e-9),
            "-",
            None,
            "(fallback)",
        )
    )
    with_deps = median_time(lambda: spec_deps.key_for(bound), repeat=7, number=number)
    without = median_time(lambda: spec_none.key_for(bound), repeat=7, number=number)
    out.append(
        row(
            "codekey",
            "key of a call, 64 deps vs 1",
            with_deps,
            "same call, 1 dependency",
            without,
            "≤ 1 µs added",
        )
    )

    three = _module(workdir, "codekey_three", 1)
    three.step3 = three.recyclable(lambda a, b, c: a)
    spec3 = three.step3.__recyclable__
    spec3.key_for(spec3.bind((1, 2.0, "x"), {}))
    key = median_time(lambda: spec3.key_for(spec3.bind((1, 2.0, "x"), {})), repeat=7, number=2000)
    out.append(row("codekey", "key of a call with 3 scalars", key, "-", None, "≤ 5 µs"))

    script, cache = _resume_files(workdir)
    _child_seconds([str(script), str(workdir), "resume", str(cache), "first"])
    rounds = 2 if smoke else 9
    resume, imports = [], []
    for index in range(rounds):  # alternate the order, so drift hits both alike
        pair = [
            ("resume", [str(script), str(workdir), "resume", str(cache), "again"]),
            ("imports", [str(script), str(workdir), "imports"]),
        ]
        for kind, args in pair if index % 2 == 0 else reversed(pair):
            (resume if kind == "resume" else imports).append(_child_seconds(args))
    resume.sort()
    imports.sort()
    out.append(
        row(
            "codekey",
            "fresh-process resume of 20 steps",
            resume[len(resume) // 2],
            "same imports, no steps",
            imports[len(imports) // 2],
            "≤ 18% added",
        )
    )
    return out
