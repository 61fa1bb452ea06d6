"""Many code-identity attacks in one throw-away project, run as a few fresh processes.

Each case is a small package of its own (``c0``, ``c1``, ...; the text
``PKG`` in its files names it) whose ``main`` module defines ``STEPS`` —
``(decorated step, plain callable, args)`` triples.  One entry script runs
every case's steps inside one pool and prints, per case, the recycled values,
the plain calls' values, and how many of its steps were loaded and computed.
A run is a fresh interpreter, so four processes (first run, unchanged re-run,
cosmetic edits, real edits) check every case the way a user meets the bug.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

RUNNER = """
import importlib, json, sys
from recyclable import Cache

NAMES = {names!r}


def main():
    pool = Cache(sys.argv[1]).create_pool("p", reuse=True)
    report = {{}}
    with pool:
        for package, name in NAMES:
            steps = importlib.import_module(package + ".main").STEPS
            values = []
            loaded, computed = pool.stats.loaded, pool.stats.computed
            for step, _plain, args in steps:
                values.append(step(*args))
            report[name] = {{
                "values": values,
                "loaded": pool.stats.loaded - loaded,
                "computed": pool.stats.computed - computed,
            }}
    for package, name in NAMES:
        steps = importlib.import_module(package + ".main").STEPS
        report[name]["plain"] = [plain(*args) for _step, plain, args in steps]
    print("RESULT " + json.dumps(report))


main()
"""


@dataclass(frozen=True)
class Outcome:
    """What one case's steps gave in one run."""

    values: list[Any]
    plain: list[Any]
    loaded: int
    computed: int


@dataclass(frozen=True)
class BatchCase:
    """A package of user code (``PKG`` names it) and the edits that must change its result."""

    files: dict[str, str]
    edits: list[tuple[str, str, str]]


class Batch:
    """Every case as a package of one project under ``root``, with a cache beside it."""

    def __init__(self, root: Path, cases: dict[str, BatchCase]) -> None:
        self.root = root / "project"
        self.cache = root / "cache"
        self.cases = cases
        self.packages = {name: f"c{i}" for i, name in enumerate(cases)}
        for name, case in cases.items():
            package = self.packages[name]
            files = {"__init__.py": "", **case.files}
            for file, text in files.items():
                path = self.root / package / file
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(textwrap.dedent(text).replace("PKG", package))
        names = [(self.packages[name], name) for name in cases]
        (self.root / "run_all.py").write_text(RUNNER.format(names=names))

    def _path(self, name: str, file: str) -> Path:
        return self.root / self.packages[name] / file

    def edit_all(self) -> None:
        """Apply every case's edits (each ``old`` must be in its file)."""
        for name, case in self.cases.items():
            package = self.packages[name]
            for file, before, after in case.edits:
                path = self._path(name, file)
                text = path.read_text()
                old, new = before.replace("PKG", package), after.replace("PKG", package)
                assert old in text, f"{name}: {old!r} is not in {file}"
                path.write_text(text.replace(old, new))

    def cosmetic_edits(self) -> None:
        """A comment, a docstring-only change and blank lines in every module of every case."""
        for path in sorted(self.root.glob("c*/**/*.py")):
            text = path.read_text()
            path.write_text('"""Edited docstring."""\n# a comment\n\n' + text + "\n\n# the end\n")

    def run(self) -> dict[str, Outcome]:
        """Run every case's steps in one fresh interpreter and return what each gave."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("RECYCLABLE_") or k == "RECYCLABLE_DISABLE"
        }
        env["PYTHONPATH"] = os.pathsep.join([str(self.root), str(REPO)])
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        done = subprocess.run(
            [sys.executable, str(self.root / "run_all.py"), str(self.cache)],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
        data = json.loads(line.removeprefix("RESULT "))
        return {name: Outcome(**data[name]) for name in self.cases}


def check_reuse_and_edits(batch: Batch) -> None:
    """Every case of ``batch``, in four fresh processes: first run, re-run, cosmetic edits, edit.

    The first run computes what the plain calls give; an unchanged re-run and
    a run after cosmetic edits to every module load every call with the same
    values; after each case's real edit (which must change the plain result)
    every call gives the plain result now.
    """
    first = batch.run()
    wrong = [name for name, got in first.items() if got.values != got.plain or not got.computed]
    assert wrong == [], f"first run differs from the plain calls: {wrong}"

    again = batch.run()
    unstable = [n for n, got in again.items() if got.computed or got.values != first[n].values]
    assert unstable == [], f"an unchanged re-run did not load: {unstable}"

    batch.cosmetic_edits()
    cosmetic = batch.run()
    unstable = [n for n, got in cosmetic.items() if got.computed or got.values != first[n].values]
    assert unstable == [], f"a cosmetic edit was a miss: {unstable}"

    batch.edit_all()
    edited = batch.run()
    unchanged = [name for name, got in edited.items() if got.plain == first[name].plain]
    assert unchanged == [], f"edits that do not change the plain result: {unchanged}"
    stale = [name for name, got in edited.items() if got.values != got.plain]
    assert stale == [], f"stale hits after an edit: {stale}"
