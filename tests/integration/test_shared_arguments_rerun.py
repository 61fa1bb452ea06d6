"""Which objects two arguments share keys the same in every process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from children import child_env

SCRIPT = """
import sys
import numpy as np
from recyclable import Cache, recyclable

@recyclable
def overlap(x, y):
    return bool(np.shares_memory(x, y))

cache = Cache(sys.argv[1])
with cache.create_pool("p", reuse=True) as pool:
    a = np.arange(5.0)
    answers = [overlap(a, a), overlap(a, a.copy())]
    print(answers, pool.stats.loaded, pool.stats.computed)
"""


def test_sharing_keys_the_same_in_a_fresh_process(tmp_path: Path) -> None:
    """A re-run in a new process (other ids, other hash seed) loads both calls, each its own.

    ``overlap(a, a)`` and ``overlap(a, a.copy())`` have equal argument values;
    only what the arguments share tells them apart.
    """
    script = tmp_path / "step.py"
    script.write_text(textwrap.dedent(SCRIPT))
    outputs = []
    for seed in ("1", "2"):
        env = child_env(tmp_path / "log", PYTHONHASHSEED=seed)
        run = subprocess.run(
            [sys.executable, str(script), str(tmp_path / "cache")],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        outputs.append(run.stdout.split())
    assert outputs[0] == ["[True,", "False]", "0", "2"]
    assert outputs[1] == ["[True,", "False]", "2", "0"]
