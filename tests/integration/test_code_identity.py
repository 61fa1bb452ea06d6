"""A step's key covers the code and configuration it reaches: two fresh processes, an edit between.

Each case runs a small user project, edits one file the way a user would, and
runs it again in a new interpreter: the edited step must be computed again
and give what the plain, undecorated call gives now.  Controls: an unchanged
re-run and cosmetic edits (comments, docstrings, blank lines, formatting) load.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from projects import Project, result_of

PKG_STEPS = """
from recyclable import recyclable
{imports}

{helpers}

@recyclable
def step(x):
    return {body}

STEPS = [(step, step.__wrapped__, (4,))]
"""


@dataclass(frozen=True)
class Case:
    """One way a step's result can change without its own text changing."""

    files: dict[str, str]
    edits: list[tuple[str, str, str]]
    entry: str = "main.py"
    extra_path: list[str] = field(default_factory=list)


def _main(imports: str, helpers: str, body: str) -> str:
    return PKG_STEPS.format(imports=imports, helpers=helpers, body=body)


CASES = {
    "module constant read through the module": Case(
        {
            "pkg/__init__.py": "",
            "pkg/conf.py": "SCALE = 2\n",
            "main.py": _main("from pkg import conf", "", "x * conf.SCALE"),
        },
        [("pkg/conf.py", "SCALE = 2", "SCALE = 3")],
    ),
    "module constant imported by name": Case(
        {
            "pkg/__init__.py": "",
            "pkg/conf.py": "SCALE = 2\n",
            "pkg/steps.py": _main("from pkg.conf import SCALE", "", "x * SCALE"),
            "main.py": "from pkg.steps import STEPS\n",
        },
        [("pkg/conf.py", "SCALE = 2", "SCALE = 3")],
    ),
    "config dict": Case(
        {"main.py": _main("", "CONFIG = {'scale': 2, 'name': 'a'}", "x * CONFIG['scale']")},
        [("main.py", "'scale': 2", "'scale': 7")],
    ),
    "helper reached as a module attribute": Case(
        {
            "pkg/__init__.py": "",
            "pkg/util.py": "def trim(x):\n    return x - 1\n",
            "main.py": _main("import pkg.util as util", "", "util.trim(x)"),
        },
        [("pkg/util.py", "x - 1", "x - 2")],
    ),
    "helper reached through a package attribute chain": Case(
        {
            "pkg/__init__.py": "from pkg import util\n",
            "pkg/util.py": "def trim(x):\n    return x - 1\n",
            "main.py": _main("import pkg", "", "pkg.util.trim(x)"),
        },
        [("pkg/util.py", "x - 1", "x - 2")],
    ),
    "method reached through self": Case(
        {
            "main.py": _main(
                "",
                "class Model:\n    def _prep(self, x):\n        return x + 1\n\n"
                "    def fit(self, x):\n        return self._prep(x) * 2\n",
                "Model().fit(x)",
            )
        },
        [("main.py", "return x + 1", "return x + 5")],
    ),
    "method reached through super()": Case(
        {
            "pkg/__init__.py": "",
            "pkg/base.py": "class Base:\n    def prep(self, x):\n        return x + 1\n",
            "main.py": _main(
                "from pkg.base import Base",
                "class Child(Base):\n    def prep(self, x):\n        return super().prep(x) * 2\n",
                "Child().prep(x)",
            ),
        },
        [("pkg/base.py", "x + 1", "x + 3")],
    ),
    "class attribute": Case(
        {"main.py": _main("", "class Settings:\n    factor = 2\n", "x * Settings.factor")},
        [("main.py", "factor = 2", "factor = 9")],
    ),
    "method of a helper class in another module": Case(
        {
            "pkg/__init__.py": "",
            "pkg/util.py": "class Helper:\n    def run(self, x):\n        return x + 1\n",
            "main.py": _main("from pkg.util import Helper", "", "Helper().run(x)"),
        },
        [("pkg/util.py", "x + 1", "x + 4")],
    ),
    "dispatch table": Case(
        {
            "main.py": _main(
                "",
                "def fa(x):\n    return x + 1\n\nMETHODS = {'a': fa}\n",
                "METHODS['a'](x)",
            )
        },
        [("main.py", "return x + 1", "return x + 6")],
    ),
    "functools.partial global": Case(
        {
            "main.py": _main(
                "import functools",
                "def mul(k, x):\n    return k * x\n\nscale = functools.partial(mul, 2)\n",
                "scale(x)",
            )
        },
        [("main.py", "functools.partial(mul, 2)", "functools.partial(mul, 5)")],
    ),
    "helper wrapped by functools.lru_cache": Case(
        {
            "main.py": _main(
                "import functools",
                "@functools.lru_cache(maxsize=None)\ndef helper(x):\n    return x + 1\n",
                "helper(x)",
            )
        },
        [("main.py", "return x + 1", "return x + 7")],
    ),
    "more than four calls deep": Case(
        {
            "main.py": _main(
                "",
                "\n".join(f"def h{i}(x):\n    return h{i + 1}(x)\n" for i in range(1, 7))
                + "\ndef h7(x):\n    return x + 1\n",
                "h1(x)",
            )
        },
        [("main.py", "return x + 1", "return x + 2")],
    ),
    "local module beside a script": Case(
        {
            "utils.py": "def clean(x):\n    return x * 2\n",
            "pipeline.py": _main("from utils import clean", "", "clean(x)"),
        },
        [("utils.py", "x * 2", "x * 3")],
        entry="pipeline.py",
    ),
    "package helpers under python -m pkg.run": Case(
        {
            "pkg/__init__.py": "",
            "pkg/helpers.py": "def clean(x):\n    return x * 2\n",
            "pkg/run.py": _main("from pkg.helpers import clean", "", "clean(x)"),
        },
        [("pkg/helpers.py", "x * 2", "x * 3")],
        entry="pkg.run",
    ),
    "editable install": Case(
        {
            # Installed in development mode: the metadata sits on sys.path,
            # the code in the source tree.
            "site/mylib-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: mylib\n"
            "Version: 1.0\n",
            "site/mylib-1.0.dist-info/top_level.txt": "mylib\n",
            "site/mylib-1.0.dist-info/RECORD": "mylib-1.0.dist-info/METADATA,,\n",
            "site/mylib-1.0.dist-info/direct_url.json": '{"url": "file:///src", '
            '"dir_info": {"editable": true}}',
            "src/mylib/__init__.py": "def clean(x):\n    return x * 2\n",
            "main.py": _main("from mylib import clean", "", "clean(x)"),
        },
        [("src/mylib/__init__.py", "x * 2", "x * 3")],
        extra_path=["site", "src"],
    ),
    "decorator factory argument": Case(
        {
            "main.py": """
            import functools
            from recyclable import recyclable

            def times(n):
                def decorate(func):
                    @functools.wraps(func)
                    def wrapper(x):
                        return func(x) * n
                    return wrapper
                return decorate

            @recyclable
            @times(2)
            def step(x):
                return x + 1

            STEPS = [(step, step.__wrapped__, (4,))]
            """
        },
        [("main.py", "@times(2)", "@times(5)")],
    ),
    "import alias of the standard library retargeted": Case(
        {"main.py": _main("from statistics import mean as middle", "", "middle([1, 2, x * 10])")},
        [("main.py", "mean as middle", "median as middle")],
    ),
    "import alias of numpy retargeted": Case(
        {
            "main.py": _main(
                "from numpy import mean as middle", "", "float(middle([1.0, 2.0, x * 10.0]))"
            )
        },
        [("main.py", "mean as middle", "median as middle")],
    ),
    "action edited while calling a same-named helper": Case(
        {
            "pkg/__init__.py": "",
            "pkg/_impl.py": "def step(x):\n    return x * 2\n",
            "pkg/api.py": _main("from pkg._impl import step as _step", "", "_step(x) + 1"),
            "main.py": "from pkg.api import STEPS\n",
        },
        [("pkg/api.py", "_step(x) + 1", "_step(x) + 2")],
    ),
    "two helpers of one name in two modules": Case(
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "def clean(x):\n    return x + 1\n",
            "pkg/b.py": "def clean(x):\n    return x * 2\n",
            "main.py": _main("from pkg import a, b", "", "a.clean(x) + b.clean(x)"),
        },
        [("pkg/b.py", "x * 2", "x * 3")],
    ),
    "one of two lambda helpers": Case(
        {"main.py": _main("", "add = lambda x: x + 1\nmul = lambda x: x * 2", "add(x) + mul(x)")},
        [("main.py", "lambda x: x + 1", "lambda x: x + 5")],
    ),
    "closure made by a factory": Case(
        {
            "main.py": """
            from recyclable import recyclable

            def make(factor):
                def step(x):
                    return x * factor
                return step

            step = recyclable(make(2))
            STEPS = [(step, step.__wrapped__, (4,))]
            """
        },
        [("main.py", "make(2)", "make(3)")],
    ),
    "function passed as an argument, through what it reaches": Case(
        {
            "pkg/__init__.py": "",
            "pkg/util.py": "def inner(x):\n    return x + 1\n\n"
            "def scale(x):\n    return inner(x)\n",
            "main.py": """
            from recyclable import recyclable
            from pkg.util import scale

            @recyclable
            def apply(func, x):
                return func(x)

            STEPS = [(apply, apply.__wrapped__, (scale, 4))]
            """,
        },
        [("pkg/util.py", "x + 1", "x + 2")],
    ),
    "bound method passed as an argument": Case(
        {
            "pkg/__init__.py": "",
            "pkg/util.py": "class Scaler:\n    def __init__(self):\n        self.k = 2\n\n"
            "    def run(self, x):\n        return x * self.k\n",
            "main.py": """
            from recyclable import recyclable
            from pkg.util import Scaler

            @recyclable
            def apply(func, x):
                return func(x)

            STEPS = [(apply, apply.__wrapped__, (Scaler().run, 4))]
            """,
        },
        [("pkg/util.py", "x * self.k", "x * self.k + 1")],
    ),
    "instance passed as an argument": Case(
        {
            "pkg/__init__.py": "",
            "pkg/util.py": "class Scaler:\n    def run(self, x):\n        return x * 2\n",
            "main.py": """
            from recyclable import recyclable
            from pkg.util import Scaler

            @recyclable
            def apply(obj, x):
                return obj.run(x)

            STEPS = [(apply, apply.__wrapped__, (Scaler(), 4))]
            """,
        },
        [("pkg/util.py", "x * 2", "x * 3")],
    ),
}


def _project(tmp_path: Path, case: Case) -> Project:
    project = Project(tmp_path, case.files, entry=case.entry)
    project.extra_path = [project.root / p for p in case.extra_path]
    return project


@pytest.mark.parametrize("name", list(CASES))
def test_edit_is_a_miss_with_the_new_result(tmp_path: Path, name: str) -> None:
    """After the edit, the step is computed again and equals the plain call; unchanged, it loads."""
    case = CASES[name]
    project = _project(tmp_path, case)
    first = project.run()
    assert first.computed == len(first.values)
    assert first.values == first.plain

    again = project.run()
    assert (again.loaded, again.computed) == (len(first.values), 0)

    for file, old, new in case.edits:
        project.edit(file, old, new)
    edited = project.run()
    assert edited.computed >= 1
    assert edited.values == edited.plain
    assert edited.values != first.values


COSMETIC = '''
import functools
from recyclable import recyclable

SCALE = 2


def helper(x):
    return x + SCALE


@recyclable
def step(x):
    """Add the scale."""
    return helper(x) * 2


STEPS = [(step, step.__wrapped__, (4,))]
'''


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("    return helper(x) * 2", "    # doubled\n    return helper(x) * 2  # why"),
        ('"""Add the scale."""', '"""Add the scale, then double it."""'),
        ('    """Add the scale."""\n', ""),
        ("def helper(x):\n", "\n\n\n\ndef helper(x):\n"),
        ("return helper(x) * 2", "return (\n        helper( x )\n        *2\n    )"),
        ("return x + SCALE", "return (x\n            + SCALE)"),
    ],
    ids=["comment", "docstring", "no docstring", "blank lines", "formatting", "helper layout"],
)
def test_cosmetic_edits_still_load(tmp_path: Path, old: str, new: str) -> None:
    """Comments, docstrings, blank lines and formatting leave the key alone: the result loads."""
    project = Project(tmp_path, {"main.py": COSMETIC})
    first = project.run()
    assert first.computed == 1
    project.edit("main.py", old, new)
    edited = project.run()
    assert (edited.loaded, edited.computed) == (1, 0)
    assert edited.values == edited.plain == first.values


def test_two_same_text_functions_in_two_modules_do_not_share_a_key(tmp_path: Path) -> None:
    """The same source text reading a different module constant is a different key, in one run."""
    same = (
        "from recyclable import recyclable\nFACTOR = {}\n\n"
        "@recyclable\ndef scale(x):\n    return x * FACTOR\n"
    )
    project = Project(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": same.format(2),
            "pkg/b.py": same.format(3),
            "main.py": "from pkg import a, b\n"
            "STEPS = [(m.scale, m.scale.__wrapped__, (4,)) for m in (a, b)]\n",
        },
    )
    run = project.run()
    assert run.values == run.plain == [8, 12]
    assert run.computed == 2


def test_closures_of_one_factory_and_lambdas_on_one_line_do_not_share_a_key(
    tmp_path: Path,
) -> None:
    """make(2) and make(3), and two lambdas written on one line, are four keys in one run."""
    project = Project(
        tmp_path,
        {
            "main.py": """
            from recyclable import recyclable

            def make(factor):
                def step(x):
                    return x * factor
                return step

            double, triple = recyclable(make(2)), recyclable(make(3))
            inc, dec = recyclable(lambda x: x + 1), recyclable(lambda x: x - 1)
            STEPS = [(f, f.__wrapped__, (4,)) for f in (double, triple, inc, dec)]
            """
        },
    )
    run = project.run()
    assert run.values == run.plain == [8, 12, 5, 3]
    assert run.computed == 4


def test_installed_distribution_counts_by_its_version(tmp_path: Path) -> None:
    """Code of an installed distribution counts as name and version: a new version is a miss."""
    project = Project(
        tmp_path,
        {
            "site/inst/__init__.py": "def clean(x):\n    return x * 2\n",
            "site/inst-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: inst\nVersion: 1.0\n",
            "site/inst-1.0.dist-info/RECORD": "inst/__init__.py,,\ninst-1.0.dist-info/METADATA,,\n",
            "main.py": _main("from inst import clean", "", "clean(x)"),
        },
    )
    project.extra_path = [project.root / "site"]
    first = project.run()
    assert first.computed == 1
    # Reinstalled at a new version (same code): the key changes.
    project.edit("site/inst-1.0.dist-info/METADATA", "Version: 1.0", "Version: 1.1")
    upgraded = project.run()
    assert (upgraded.loaded, upgraded.computed) == (0, 1)
    assert upgraded.values == upgraded.plain


def test_source_saved_while_an_earlier_step_runs(tmp_path: Path) -> None:
    """A file saved mid-run does not key the old code's result under the new code."""
    project = Project(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/late.py": "from recyclable import recyclable\n\n"
            "@recyclable\ndef late(x):\n    return x + 1\n",
            "main.py": """
            import os, time
            from pathlib import Path
            from recyclable import recyclable
            from pkg.late import late

            @recyclable
            def early(x):
                Path(os.environ["WAITING"]).write_text("")
                deadline = time.monotonic() + 60
                while not Path(os.environ["GO"]).exists() and time.monotonic() < deadline:
                    time.sleep(0.02)
                return x

            STEPS = [(early, early.__wrapped__, (1,)), (late, late.__wrapped__, (4,))]
            """,
        },
    )
    waiting, go = tmp_path / "waiting", tmp_path / "go"
    process = project.start(WAITING=str(waiting), GO=str(go))
    deadline = time.monotonic() + 60
    while not waiting.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    project.edit("pkg/late.py", "x + 1", "x + 100")
    go.write_text("")
    first = result_of(process)
    assert first.values == [1, 5]  # the running process ran the code it had loaded

    second = project.run(WAITING=str(waiting), GO=str(go))
    assert second.values == second.plain == [1, 104]
    assert (second.loaded, second.computed) == (1, 1)


def test_a_script_run_directly_and_imported_share_keys(tmp_path: Path) -> None:
    """`python pipeline.py` stores; a script that imports pipeline loads the same steps."""
    script = Project(
        tmp_path,
        {
            "helpers.py": "def clean(x):\n    return x * 2\n",
            # The step reads __name__ ("__main__" or "pipeline"): not in the key.
            "pipeline.py": _main(
                "from helpers import clean", "SCALE = 3", "clean(x) + SCALE + 0 * len(__name__)"
            ),
        },
        entry="pipeline.py",
    )
    first = script.run()
    assert first.computed == 1
    importer = Project(tmp_path, {"main.py": "from pipeline import STEPS\n"})
    again = importer.run()
    assert (again.loaded, again.computed) == (1, 0)
    assert again.values == again.plain == first.values


def test_a_moved_project_still_hits(tmp_path: Path) -> None:
    """No directory enters a code key: the project and its cache moved elsewhere still load."""
    import shutil

    files = {
        "utils.py": "def clean(x):\n    return x * 2\n",
        "main.py": _main("import os\nfrom utils import clean", "", "clean(x) + 0 * len(__file__)"),
    }
    first = Project(tmp_path / "a", files).run()
    assert first.computed == 1
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    moved = Project(tmp_path / "b", {})
    moved.entry = "main.py"
    again = moved.run()
    assert (again.loaded, again.computed) == (1, 0)
    assert again.values == again.plain == first.values
