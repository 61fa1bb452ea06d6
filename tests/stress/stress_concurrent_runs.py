"""Many concurrent `recyclable run` processes of one action sharing its default pool.

Each round starts PROCESSES runs of ``analyze`` at once, with two parameter
sets, half of them failing at ``diversity``; then every failed run is re-run
until it succeeds.  Afterwards every run must have ended with exit code 0 or
the planned failure (never an error from a race in the store), each round
must have loaded steps (the runs share ``load_reads`` and a resumed run its
own finished steps: a round in which every step was computed recycled
nothing), the default pool must be gone, and no entry may be left in the cache.

    python tests/stress/stress_concurrent_runs.py [PROCESSES] [ROUNDS]

`tests/integration/test_cli_stress_bounded.py` runs a small version in CI.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
POOL = "recycle_pipes_analyze_" + hashlib.sha1(b"pipes_analyze").hexdigest()
LOADED = re.compile(r"(\d+) step\(s\) loaded, (\d+) computed")


def _plugin_dir(root: Path) -> Path:
    dist = root / "site" / "recyclable_stress_plugins-1.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: stress\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[recyclable.plugins]\npipes = pipeline_actions\n")
    return dist.parent


def run_stress(workdir: Path, processes: int, rounds: int) -> list[str]:
    """Run the scenario; return the problems found (empty when all is well)."""
    site = _plugin_dir(workdir)
    cache = workdir / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECYCLABLE_TEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO), str(REPO / "tests")])
    problems: list[str] = []
    for round_no in range(rounds):
        pending = []
        for i in range(processes):
            run_env = {**env, "RECYCLABLE_TEST_LOG": str(workdir / f"r{round_no}-{i}.log")}
            if i % 2:
                run_env["RECYCLABLE_TEST_FAIL_AT"] = "diversity"
            args = ["run", "pipes", "analyze", "--n", "2000", "--samples", str(4 + i % 3)]
            pending.append((args, run_env))
        attempt = 0
        loaded = 0
        while pending:
            attempt += 1
            started = [
                (args, run_env, _start([*args, "--use-cache", str(cache)], run_env, workdir))
                for args, run_env in pending
            ]
            pending = []
            for args, run_env, proc in started:
                _, err = proc.communicate(timeout=300)
                planned = "RECYCLABLE_TEST_FAIL_AT" in run_env
                loaded += sum(int(m.group(1)) for m in LOADED.finditer(err))
                if proc.returncode == 0:
                    continue
                if proc.returncode == 1 and planned and "failed on purpose" in err:
                    pending.append((args, {k: v for k, v in run_env.items()
                                           if k != "RECYCLABLE_TEST_FAIL_AT"}))  # fmt: skip
                    continue
                problems.append(
                    f"round {round_no} attempt {attempt}: exit {proc.returncode}\n{err}"
                )
            if attempt > 3:
                problems.append(f"round {round_no}: runs still failing after 3 attempts")
                break
        if loaded == 0:
            problems.append(f"round {round_no}: no run loaded any step (nothing was recycled)")
    if (cache / "pools" / POOL).exists():
        problems.append(f"default pool left behind: {sorted(os.listdir(cache / 'pools' / POOL))}")
    leftover = list((cache / "entries").rglob("*.json"))
    if leftover:
        problems.append(f"{len(leftover)} entries left in the cache")
    return problems


def _start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "recyclable", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory() as tmp:
        found = run_stress(Path(tmp), count, rounds)
    print("\n".join(found) or f"ok: {rounds} rounds of {count} concurrent runs")
    sys.exit(1 if found else 0)
