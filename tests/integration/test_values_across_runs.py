"""What a step can observe is in its key, and a re-run gives what the first run gave.

Each scenario runs real, fresh interpreter processes on one cache, edits a file
between runs where that is the point, and compares the re-run's output with
what the plain call gives (recycling off).  Controls check that an unchanged
re-run still loads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _python(
    script: Path, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _report(run: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


HEADER = """\
import json, sys, warnings
from pathlib import Path
import numpy as np
from recyclable import Cache, recyclable
warnings.simplefilter("always")
"""

FOOTER = """
if __name__ == "__main__":
    cache, off = sys.argv[1], sys.argv[2] == "off"
    pool = Cache(cache).create_pool("p", reuse=True)
    if off:
        out = main()
    else:
        with pool:
            out = main()
    print(json.dumps({"out": out, "loaded": pool.stats.loaded}))
"""


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "step.py"
    path.write_text(HEADER + textwrap.dedent(body) + FOOTER)
    return path


def test_path_argument_is_keyed_by_content(tmp_path: Path) -> None:
    """Editing the file a pathlib.Path argument names makes the re-run compute afresh; an
    unchanged file is loaded."""
    data = tmp_path / "table.tsv"
    data.write_text("a\nb\n")
    script = _script(
        tmp_path,
        """
        @recyclable
        def count(path: Path) -> int:
            return len(path.read_text().splitlines())

        def main():
            return count(Path("table.tsv"))
        """,
    )
    cache = str(tmp_path / "cache")
    assert _report(_python(script, cache, "on", cwd=tmp_path)) == {"out": 2, "loaded": 0}
    assert _report(_python(script, cache, "on", cwd=tmp_path)) == {"out": 2, "loaded": 1}
    data.write_text("a\nb\nc\n")
    plain = _report(_python(script, cache, "off", cwd=tmp_path))["out"]
    assert plain == 3
    assert _report(_python(script, cache, "on", cwd=tmp_path)) == {"out": plain, "loaded": 0}


def test_ignored_output_path_is_left_out(tmp_path: Path) -> None:
    """An output path left out with ignore= does not make the re-run miss once it exists."""
    script = _script(
        tmp_path,
        """
        @recyclable(ignore=["out"])
        def write(n: int, out: Path) -> int:
            out.write_text(str(n))
            return n

        def main():
            return write(3, Path("out.txt"))
        """,
    )
    cache = str(tmp_path / "cache")
    assert _report(_python(script, cache, "on", cwd=tmp_path)) == {"out": 3, "loaded": 0}
    assert _report(_python(script, cache, "on", cwd=tmp_path)) == {"out": 3, "loaded": 1}


def test_large_result_behaves_alike_on_the_miss_and_the_hit(tmp_path: Path) -> None:
    """A 64 KiB+ array result has the same type and writability on the first run and the
    re-run, so code after the step behaves the same on both."""
    script = _script(
        tmp_path,
        """
        @recyclable
        def make(n: int) -> np.ndarray:
            return np.arange(n, dtype=np.float64)

        def main():
            arr = make(20_000)
            try:
                arr += 1
                wrote = "wrote"
            except ValueError as exc:
                wrote = str(exc)
            return [type(arr).__name__, bool(arr.flags.writeable), wrote, float(arr[1])]
        """,
    )
    cache = str(tmp_path / "cache")
    first = _report(_python(script, cache, "on", cwd=tmp_path))
    second = _report(_python(script, cache, "on", cwd=tmp_path))
    assert second["loaded"] == 1
    assert first["out"] == second["out"]


def test_fit_sets_self_and_predict_agrees_on_a_rerun(tmp_path: Path) -> None:
    """@recyclable(mutates=["self"]) puts self's state back on a hit: m.fit(xs); m.predict(3)
    gives the plain call's answer in the re-run."""
    script = _script(
        tmp_path,
        """
        class Model:
            def __init__(self):
                self.coef = None

            @recyclable(mutates=["self"])
            def fit(self, xs):
                self.coef = sum(xs) / len(xs)
                return self

            def predict(self, x):
                return self.coef * x

        def main():
            m = Model()
            fitted = m.fit([1.0, 2.0, 3.0])
            return [m.predict(3), fitted is m]
        """,
    )
    cache = str(tmp_path / "cache")
    plain = _report(_python(script, cache, "off", cwd=tmp_path))["out"]
    assert plain == [6.0, True]
    assert _report(_python(script, cache, "on", cwd=tmp_path)) == {"out": plain, "loaded": 0}
    assert _report(_python(script, cache, "on", cwd=tmp_path)) == {"out": plain, "loaded": 1}


def test_undeclared_in_place_change_is_not_stored(tmp_path: Path) -> None:
    """A step that normalises its list argument in place is computed on every run (a hit
    would skip the change) and a warning names the argument and the fix."""
    script = _script(
        tmp_path,
        """
        @recyclable
        def normalise(xs):
            total = sum(xs)
            xs[:] = [x / total for x in xs]
            return total

        def main():
            xs = [1.0, 3.0]
            total = normalise(xs)
            return [total, xs]
        """,
    )
    cache = str(tmp_path / "cache")
    plain = _report(_python(script, cache, "off", cwd=tmp_path))["out"]
    first = _python(script, cache, "on", cwd=tmp_path)
    assert "changed its argument 'xs' in place" in first.stderr
    assert "mutates=['xs']" in first.stderr
    assert _report(first) == {"out": plain, "loaded": 0}
    assert _report(_python(script, cache, "on", cwd=tmp_path)) == {"out": plain, "loaded": 0}


PIPELINE = """\
import os, sys
from recyclable import Cache, recyclable


class Config:
    def __init__(self, n):
        self.n = n


class Result:
    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return f"Result({self.value})"


@recyclable
def inner(cfg: Config) -> Result:
    with open(os.environ["STEP_LOG"], "a") as log:
        log.write("inner\\n")
    return Result(cfg.n * 2)


def analyze(n: int = 3) -> Result:
    result = inner(Config(n))
    assert isinstance(result, Result), type(result)
    return result


if __name__ == "__main__":
    with Cache(sys.argv[1]).create_pool("shared", reuse=True):
        print(repr(analyze(int(sys.argv[2]))))
"""


@pytest.mark.parametrize("first", ["script", "cli", "module"])
def test_script_and_run_target_share_entries(tmp_path: Path, first: str) -> None:
    """`python pipeline.py`, `python -m pipeline` and `recyclable run pipeline.py:analyze` key
    the script's classes alike and load each other's results (of a class defined in the
    script) with the class the running program has; nothing is quarantined."""
    (tmp_path / "pipeline.py").write_text(PIPELINE)
    cache = tmp_path / "cache"
    log = tmp_path / "steps.log"
    env = {"STEP_LOG": str(log)}

    def script() -> subprocess.CompletedProcess[str]:
        return _python(tmp_path / "pipeline.py", str(cache), "3", cwd=tmp_path, env=env)

    def cli() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *(sys.executable, "-m", "recyclable", "run", "pipeline.py:analyze", "--n", "3"),
                *("--use-cache", str(cache), "--recycle-pool", "shared"),
            ],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def module() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pipeline", str(cache), "3"],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    order = {"script": [script, cli], "cli": [cli, script], "module": [module, cli, script]}[first]
    for run in order:
        done = run()
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().splitlines()[-1] == "Result(6)"
        assert "damaged" not in done.stderr
    assert log.read_text().split() == ["inner"]
    assert not (cache / "quarantine").exists() or not any((cache / "quarantine").iterdir())


# The module holding the result's class is named by an environment variable,
# which is outside the key: the two environments make the same key, and only
# loading the stored result can find the class missing.  (A module the step
# imports by name is part of its code key, so its absence is a plain new key.)
OPTIONAL = """\
import importlib, os, sys
from recyclable import Cache, recyclable


@recyclable
def inner(n: int) -> object:
    with open(os.environ["STEP_LOG"], "a") as log:
        log.write("inner\\n")
    try:
        module = importlib.import_module(os.environ["RESULT_MODULE"])
    except ImportError:
        return ("plain", n * 2)
    return module.Result(n * 2)


if __name__ == "__main__":
    with Cache(sys.argv[1]).create_pool("shared", reuse=True):
        print(repr(inner(int(sys.argv[2]))))
"""


def test_missing_module_is_a_miss_not_damage(tmp_path: Path) -> None:
    """An entry whose class lives in a module this process cannot import is recomputed with a
    message naming the module and class; the entry is not quarantined and still serves the
    environment that has the module."""
    (tmp_path / "optional.py").write_text(OPTIONAL)
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "extras.py").write_text(
        "class Result:\n"
        "    def __init__(self, value):\n"
        "        self.value = value\n"
        "    def __repr__(self):\n"
        "        return f'Result({self.value})'\n"
    )
    cache = tmp_path / "cache"
    log = tmp_path / "steps.log"
    with_lib = {
        "STEP_LOG": str(log),
        "RESULT_MODULE": "extras",
        "PYTHONPATH": os.pathsep.join([str(REPO), str(lib)]),
    }
    without = {"STEP_LOG": str(log), "RESULT_MODULE": "extras"}
    script = tmp_path / "optional.py"

    done = _python(script, str(cache), "3", cwd=tmp_path, env=with_lib)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Result(6)"
    again = _python(script, str(cache), "3", cwd=tmp_path, env=without)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "('plain', 6)"
    assert "'Result'" in again.stderr and "'extras'" in again.stderr
    assert "damaged" not in again.stderr and "quarantine" not in again.stderr
    assert not (cache / "quarantine").exists() or not any((cache / "quarantine").iterdir())
    third = _python(script, str(cache), "3", cwd=tmp_path, env=with_lib)
    assert third.stdout.strip() == "Result(6)"
    assert log.read_text().split() == ["inner", "inner"]


def test_values_keyed_by_layout_and_left_out_state_hit_in_a_new_process(tmp_path: Path) -> None:
    """Keys of Fortran-ordered arrays, memoryviews, mapping proxies and objects whose
    __getstate__ leaves attributes out are the same in a fresh interpreter: a re-run loads
    every call, and each gives the plain call's result."""
    script = _script(
        tmp_path,
        """
        import types

        class Kept:
            def __init__(self, a, b):
                self.a, self.b = a, b

            def __getstate__(self):
                return {"a": self.a}

        @recyclable
        def seen(value):
            if isinstance(value, Kept):
                return [value.a, value.b]
            if isinstance(value, np.ndarray):
                return [float(value.sum()), bool(value.flags.f_contiguous)]
            if isinstance(value, memoryview):
                return list(value.tolist())
            return sorted(value.items())

        def main():
            grid = np.arange(12.0).reshape(3, 4)
            values = [
                Kept(1, 2),
                Kept(1, 3),
                grid,
                np.asfortranarray(grid),
                memoryview(b"abcd").cast("i"),
                types.MappingProxyType({"k": 2}),
            ]
            return [seen(v) for v in values]
        """,
    )
    cache = str(tmp_path / "cache")
    plain = _report(_python(script, cache, "off", cwd=tmp_path))["out"]
    first = _report(_python(script, cache, "on", cwd=tmp_path))
    assert first == {"out": plain, "loaded": 0}
    again = _report(_python(script, cache, "on", cwd=tmp_path))
    assert again == {"out": plain, "loaded": 6}


def test_layouts_a_step_hands_on_are_loaded_alike_on_a_rerun(tmp_path: Path) -> None:
    """Arrays of every layout a step returns (Fortran-ordered, transposed, strided views; small
    results kept inline and large ones in data files) feed the next step with the same key on
    the re-run: the re-run loads every call, and each gives the plain pipeline's result."""
    script = _script(
        tmp_path,
        """
        @recyclable
        def make(n):
            a = np.arange(n * 7, dtype=np.float64).reshape(n, 7)
            return {
                "transposed": a.T,
                "fortran": np.asfortranarray(a),
                "strided": a[:, ::2].T,
                "small fortran": np.asfortranarray(a[:3]),
            }

        @recyclable
        def use(arr):
            return [float(arr.sum()), list(arr.shape)]

        def main():
            out = []
            for n in (10, 20_000):
                made = make(n)
                out.extend(use(made[name]) for name in sorted(made))
            return out
        """,
    )
    cache = str(tmp_path / "cache")
    plain = _report(_python(script, cache, "off", cwd=tmp_path))["out"]
    first = _report(_python(script, cache, "on", cwd=tmp_path))
    assert first["out"] == plain
    again = _report(_python(script, cache, "on", cwd=tmp_path))
    assert again == {"out": plain, "loaded": 10}
