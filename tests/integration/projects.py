"""Throw-away user projects on disk, run as fresh processes, for code-identity tests.

A test writes a project (modules, a script, a package), runs its entry point
in a new interpreter, edits a file, and runs it again.  The entry point calls
``STEPS`` — ``(decorated step, plain callable, args)`` triples it defines —
inside a pool and prints each recycled result, the plain call's result and
the pool's load and compute counts as one JSON line.
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

def _recyclable_test_main():
    import json as _json
    import sys as _sys

    from recyclable import Cache as _Cache

    pool = _Cache(_sys.argv[1]).create_pool("p", reuse=True)
    values = []
    with pool:
        for _step, _plain, _args in STEPS:
            values.append(_step(*_args))
    plain = [_plain(*_args) for _step, _plain, _args in STEPS]
    print("RESULT " + _json.dumps({
        "values": values, "plain": plain,
        "loaded": pool.stats.loaded, "computed": pool.stats.computed,
    }))


if __name__ == "__main__":
    _recyclable_test_main()
"""


@dataclass(frozen=True)
class Run:
    """What one run of a project printed."""

    values: list[Any]
    plain: list[Any]
    loaded: int
    computed: int


class Project:
    """A directory of user code under ``root``, with a cache beside it."""

    def __init__(self, root: Path, files: dict[str, str], entry: str = "main.py") -> None:
        self.root = root / "project"
        self.cache = root / "cache"
        self.entry = entry
        self.extra_path: list[Path] = []
        for name, text in files.items():
            self.write(name, text)

    def write(self, name: str, text: str) -> None:
        """Write (or overwrite) one file of the project; the entry point gets the runner."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        body = textwrap.dedent(text)
        if name == self.entry_file:
            body += RUNNER
        path.write_text(body)

    def edit(self, name: str, old: str, new: str) -> None:
        """Replace ``old`` by ``new`` in one file (which must contain it)."""
        path = self.root / name
        text = path.read_text()
        assert old in text, f"{old!r} is not in {name}"
        path.write_text(text.replace(old, new))

    @property
    def entry_file(self) -> str:
        """The file holding the entry point (``pkg/run.py`` for ``-m pkg.run``)."""
        if self.entry.endswith(".py"):
            return self.entry
        return self.entry.replace(".", "/") + ".py"

    def env(self, **extra: str) -> dict[str, str]:
        """A child's environment: this source tree importable, no stale bytecode."""
        # The caller's cache settings stay out, but recycling switched off (the
        # suite's --recycling-off guard) reaches the child too.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("RECYCLABLE_") or k == "RECYCLABLE_DISABLE"
        }
        paths = [str(p) for p in self.extra_path] + [str(REPO)]
        if not self.entry.endswith(".py"):
            paths.insert(0, str(self.root))
        env["PYTHONPATH"] = os.pathsep.join(paths)
        # A file edited twice within a second keeps its size-and-mtime stamp:
        # never let a child run stale cached bytecode.
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.update(extra)
        return env

    def command(self) -> list[str]:
        """How the entry point is started: as a script, or with ``-m``."""
        if self.entry.endswith(".py"):
            return [sys.executable, str(self.root / self.entry), str(self.cache)]
        return [sys.executable, "-m", self.entry, str(self.cache)]

    def run(self, **env: str) -> Run:
        """Run the entry point in a fresh interpreter and return what it reported."""
        done = subprocess.run(
            self.command(),
            cwd=self.root,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
        data = json.loads(line.removeprefix("RESULT "))
        return Run(data["values"], data["plain"], data["loaded"], data["computed"])

    def start(self, **env: str) -> subprocess.Popen[str]:
        """Start the entry point without waiting (for edits while it runs)."""
        return subprocess.Popen(
            self.command(),
            cwd=self.root,
            env=self.env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def result_of(process: subprocess.Popen[str]) -> Run:
    """Wait for a process started by `Project.start` and return what it reported."""
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    data = json.loads(line.removeprefix("RESULT "))
    return Run(data["values"], data["plain"], data["loaded"], data["computed"])
