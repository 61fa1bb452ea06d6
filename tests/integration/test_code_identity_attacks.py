"""Attacks on the code part of a key: ways a step's result changes that a memoizer can miss.

Each case runs a small user project in a fresh interpreter, edits one file the
way a user would, and runs it again: the step must be computed again and give
what the plain, undecorated call gives now.  Each case also re-runs unchanged
first and must load there (a key that never hits would pass the edit check).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from projects import Project

STEP = """
from recyclable import recyclable
{imports}

{helpers}

@recyclable
def step(x):
    return {body}

STEPS = [(step, step.__wrapped__, (4,))]
"""


def _main(imports: str, helpers: str, body: str) -> str:
    return STEP.format(imports=imports, helpers=helpers, body=body)


@dataclass(frozen=True)
class Case:
    """One way a step's result can change without the step's own text changing."""

    files: dict[str, str]
    edits: list[tuple[str, str, str]]
    entry: str = "main.py"
    extra_path: list[str] = field(default_factory=list)


PKG = {"pkg/__init__.py": ""}

CASES = {
    "import pkg.sub as s; s.f()": Case(
        {
            **PKG,
            "pkg/sub.py": "def f(x):\n    return x + 1\n",
            "main.py": _main("import pkg.sub as s", "", "s.f(x)"),
        },
        [("pkg/sub.py", "x + 1", "x + 2")],
    ),
    "a helper made by exec with no module": Case(
        {
            "rules.txt": "def rule(x):\n    return x + 1\n",
            "main.py": _main(
                "import pathlib",
                'NS = {}\nexec(pathlib.Path(__file__).with_name("rules.txt").read_text(), NS)\n'
                'rule = NS["rule"]',
                "rule(x)",
            ),
        },
        [("rules.txt", "x + 1", "x + 2")],
    ),
    "a step made by exec with no module": Case(
        {
            "steps.txt": (
                "from recyclable import recyclable\n\n@recyclable\ndef step(x):\n    return x + 1\n"
            ),
            "main.py": (
                "import pathlib\nNS = {}\n"
                'exec(pathlib.Path(__file__).with_name("steps.txt").read_text(), NS)\n'
                'step = NS["step"]\nSTEPS = [(step, step.__wrapped__, (4,))]\n'
            ),
        },
        [("steps.txt", "x + 1", "x + 2")],
    ),
    "a class made by exec with no module": Case(
        {
            "rules.txt": "class Rule:\n    def apply(self, x):\n        return x + 1\n",
            "main.py": _main(
                "import pathlib",
                'NS = {}\nexec(pathlib.Path(__file__).with_name("rules.txt").read_text(), NS)\n'
                'Rule = NS["Rule"]',
                "Rule().apply(x)",
            ),
        },
        [("rules.txt", "x + 1", "x + 2")],
    ),
    "from . import x at module level": Case(
        {
            **PKG,
            "pkg/util.py": "def f(x):\n    return x + 1\n",
            "pkg/steps.py": _main("from . import util", "", "util.f(x)"),
            "main.py": "from pkg.steps import STEPS\n",
        },
        [("pkg/util.py", "x + 1", "x + 2")],
    ),
    "from . import x inside the step": Case(
        {
            **PKG,
            "pkg/util.py": "def f(x):\n    return x + 1\n",
            "pkg/steps.py": """
            from recyclable import recyclable

            @recyclable
            def step(x):
                from . import util
                return util.f(x)

            STEPS = [(step, step.__wrapped__, (4,))]
            """,
            "main.py": "from pkg.steps import STEPS\n",
        },
        [("pkg/util.py", "x + 1", "x + 2")],
    ),
    "class-level dispatch dict": Case(
        {
            **PKG,
            "pkg/ops.py": "def fa(x):\n    return x + 1\n",
            "main.py": _main(
                "from pkg.ops import fa", "class Ops:\n    TABLE = {'a': fa}\n", "Ops.TABLE['a'](x)"
            ),
        },
        [("pkg/ops.py", "x + 1", "x + 3")],
    ),
    "getattr(module, constant name)": Case(
        {
            **PKG,
            "pkg/util.py": "def trim(x):\n    return x - 1\n",
            "main.py": _main("from pkg import util", "", "getattr(util, 'trim')(x)"),
        },
        [("pkg/util.py", "x - 1", "x - 2")],
    ),
    "globals()[constant name]": Case(
        {"main.py": _main("", "def helper(x):\n    return x + 1\n", "globals()['helper'](x)")},
        [("main.py", "x + 1", "x + 2")],
    ),
    "importlib.import_module(constant name)": Case(
        {
            **PKG,
            "pkg/util.py": "def trim(x):\n    return x - 1\n",
            "main.py": _main(
                "import importlib\nimport pkg.util",
                "",
                "importlib.import_module('pkg.util').trim(x)",
            ),
        },
        [("pkg/util.py", "x - 1", "x - 2")],
    ),
    "method through an instance in a module global": Case(
        {
            **PKG,
            "pkg/model.py": "class Model:\n    def predict(self, x):\n        return x * 2\n\n"
            "MODEL = Model()\n",
            "main.py": _main("from pkg.model import MODEL", "", "MODEL.predict(x)"),
        },
        [("pkg/model.py", "x * 2", "x * 3")],
    ),
    "dataclass method": Case(
        {
            **PKG,
            "pkg/dc.py": "from dataclasses import dataclass\n\n@dataclass\nclass P:\n"
            "    k: int = 2\n\n    def f(self, x):\n        return x * self.k\n",
            "main.py": _main("from pkg.dc import P", "", "P().f(x)"),
        },
        [("pkg/dc.py", "x * self.k", "x * self.k + 1")],
    ),
    "dataclass field default": Case(
        {
            **PKG,
            "pkg/dc.py": "from dataclasses import dataclass\n\n@dataclass\nclass P:\n"
            "    k: int = 2\n",
            "main.py": _main("from pkg.dc import P", "", "x * P().k"),
        },
        [("pkg/dc.py", "k: int = 2", "k: int = 5")],
    ),
    "dataclass default_factory": Case(
        {
            **PKG,
            "pkg/dc.py": "from dataclasses import dataclass, field\n\n@dataclass\nclass P:\n"
            "    ks: list = field(default_factory=lambda: [2])\n",
            "main.py": _main("from pkg.dc import P", "", "x * P().ks[0]"),
        },
        [("pkg/dc.py", "lambda: [2]", "lambda: [6]")],
    ),
    "Enum member value": Case(
        {
            **PKG,
            "pkg/en.py": "import enum\n\nclass Mode(enum.Enum):\n    FAST = 2\n    SLOW = 3\n",
            "main.py": _main("from pkg.en import Mode", "", "x * Mode.FAST.value"),
        },
        [("pkg/en.py", "FAST = 2", "FAST = 7")],
    ),
    "Enum method": Case(
        {
            **PKG,
            "pkg/en.py": "import enum\n\nclass Mode(enum.Enum):\n    FAST = 2\n\n"
            "    def apply(self, x):\n        return x * self.value\n",
            "main.py": _main("from pkg.en import Mode", "", "Mode.FAST.apply(x)"),
        },
        [("pkg/en.py", "x * self.value", "x * self.value + 1")],
    ),
    "Enum member held in a module constant": Case(
        {
            **PKG,
            "pkg/en.py": "import enum\n\nclass Mode(enum.IntEnum):\n    FAST = 2\n"
            "    SLOW = 3\n\nDEFAULT = Mode.FAST\n",
            "main.py": _main("from pkg.en import DEFAULT", "", "x * int(DEFAULT)"),
        },
        [("pkg/en.py", "FAST = 2", "FAST = 7")],
    ),
    "NamedTuple default and method": Case(
        {
            **PKG,
            "pkg/nt.py": "from typing import NamedTuple\n\nclass P(NamedTuple):\n"
            "    k: int = 2\n\n    def f(self, x):\n        return x * self.k\n",
            "main.py": _main("from pkg.nt import P", "", "P().f(x)"),
        },
        [("pkg/nt.py", "k: int = 2", "k: int = 5")],
    ),
    "NamedTuple method": Case(
        {
            **PKG,
            "pkg/nt.py": "from typing import NamedTuple\n\nclass P(NamedTuple):\n"
            "    k: int = 2\n\n    def f(self, x):\n        return x * self.k\n",
            "main.py": _main("from pkg.nt import P", "", "P().f(x)"),
        },
        [("pkg/nt.py", "x * self.k", "x * self.k - 1")],
    ),
    "property on a helper class": Case(
        {
            **PKG,
            "pkg/h.py": "class H:\n    @property\n    def k(self):\n        return 2\n",
            "main.py": _main("from pkg.h import H", "", "x * H().k"),
        },
        [("pkg/h.py", "return 2", "return 4")],
    ),
    "nested function inside the step reads another module": Case(
        {
            **PKG,
            "pkg/conf.py": "SCALE = 2\n",
            "main.py": """
            from recyclable import recyclable
            from pkg import conf

            @recyclable
            def step(x):
                def inner(y):
                    return y * conf.SCALE
                return inner(x)

            STEPS = [(step, step.__wrapped__, (4,))]
            """,
        },
        [("pkg/conf.py", "SCALE = 2", "SCALE = 3")],
    ),
    "generator helper": Case(
        {
            **PKG,
            "pkg/g.py": "def gen(x):\n    yield x\n    yield x + 1\n",
            "main.py": _main("from pkg.g import gen", "", "sum(gen(x))"),
        },
        [("pkg/g.py", "yield x + 1", "yield x + 2")],
    ),
    "async step": Case(
        {
            **PKG,
            "pkg/util.py": "def f(x):\n    return x + 1\n",
            "main.py": """
            import asyncio
            from recyclable import recyclable
            from pkg.util import f

            @recyclable
            async def astep(x):
                await asyncio.sleep(0)
                return f(x)

            def step(x):
                return asyncio.run(astep(x))

            def plain(x):
                return asyncio.run(astep.__wrapped__(x))

            STEPS = [(step, plain, (4,))]
            """,
        },
        [("pkg/util.py", "x + 1", "x + 2")],
    ),
    "stacked decorators with functools.wraps": Case(
        {
            **PKG,
            "pkg/deco.py": """
            import functools

            def add(n):
                def decorate(func):
                    @functools.wraps(func)
                    def wrapper(x):
                        return func(x) + n
                    return wrapper
                return decorate

            def double(func):
                @functools.wraps(func)
                def wrapper(x):
                    return func(x) * 2
                return wrapper
            """,
            "main.py": """
            from recyclable import recyclable
            from pkg.deco import add, double

            @recyclable
            @double
            @add(1)
            def step(x):
                return x

            STEPS = [(step, step.__wrapped__, (4,))]
            """,
        },
        [("pkg/deco.py", "func(x) * 2", "func(x) * 3")],
    ),
    "class-based decorator with state": Case(
        {
            **PKG,
            "pkg/deco.py": """
            import functools

            class Scaled:
                def __init__(self, func, k):
                    functools.update_wrapper(self, func)
                    self.func = func
                    self.k = k

                def __call__(self, x):
                    return self.func(x) * self.k

            def base(x):
                return x + 1

            helper = Scaled(base, 2)
            """,
            "main.py": _main("from pkg.deco import helper", "", "helper(x)"),
        },
        [("pkg/deco.py", "Scaled(base, 2)", "Scaled(base, 5)")],
    ),
    "recursion through a helper": Case(
        {
            **PKG,
            "pkg/rec.py": "def fact(n):\n    return 1 if n <= 1 else n * fact(n - 1)\n",
            "main.py": _main("from pkg.rec import fact", "", "fact(x)"),
        },
        [("pkg/rec.py", "return 1 if", "return 2 if")],
    ),
    "recursive step": Case(
        {
            "main.py": """
            from recyclable import recyclable

            @recyclable
            def step(n):
                return 1 if n <= 1 else n * step(n - 1)

            STEPS = [(step, step.__wrapped__, (4,))]
            """
        },
        [("main.py", "return 1 if", "return 3 if")],
    ),
    "global rebound by a third module": Case(
        {
            **PKG,
            "pkg/conf.py": "SCALE = 2\n",
            "pkg/override.py": "from pkg import conf\n\nconf.SCALE = 3\n",
            "main.py": _main("import pkg.override\nfrom pkg import conf", "", "x * conf.SCALE"),
        },
        [("pkg/override.py", "conf.SCALE = 3", "conf.SCALE = 4")],
    ),
    "star-import": Case(
        {
            **PKG,
            "pkg/util.py": "def trim(x):\n    return x - 1\n",
            "main.py": _main("from pkg.util import *", "", "trim(x)"),
        },
        [("pkg/util.py", "x - 1", "x - 3")],
    ),
    "__init__.py re-export": Case(
        {
            "pkg/__init__.py": "from .util import trim\n",
            "pkg/util.py": "def trim(x):\n    return x - 1\n",
            "main.py": _main("from pkg import trim", "", "trim(x)"),
        },
        [("pkg/util.py", "x - 1", "x - 3")],
    ),
    "__init__.py re-export reached through the package": Case(
        {
            "pkg/__init__.py": "from .util import trim\n",
            "pkg/util.py": "def trim(x):\n    return x - 1\n",
            "main.py": _main("import pkg", "", "pkg.trim(x)"),
        },
        [("pkg/util.py", "x - 1", "x - 3")],
    ),
    "singledispatch implementation": Case(
        {
            **PKG,
            "pkg/sd.py": """
            import functools

            @functools.singledispatch
            def scale(x):
                return x

            @scale.register
            def _(x: int):
                return x * 2
            """,
            "main.py": _main("from pkg.sd import scale", "", "scale(x)"),
        },
        [("pkg/sd.py", "x * 2", "x * 3")],
    ),
    "numpy ufunc global retargeted": Case(
        {"main.py": _main("from numpy import add as combine", "", "int(combine(x, 3))")},
        [("main.py", "add as combine", "multiply as combine")],
    ),
    "builtin helper from the standard library": Case(
        {"main.py": _main("from math import floor as rnd", "", "rnd(x + 0.5)")},
        [("main.py", "floor as rnd", "ceil as rnd")],
    ),
    "method step reaching a helper method through self": Case(
        {
            **PKG,
            "pkg/pipe.py": """
            from recyclable import recyclable

            class Pipe:
                def helper(self, x):
                    return x + 1

                @recyclable
                def run(self, x):
                    return self.helper(x)

            def plain(x):
                return Pipe.run.__wrapped__(Pipe(), x)

            STEPS = [(lambda x: Pipe().run(x), plain, (4,))]
            """,
            "main.py": "from pkg.pipe import STEPS\n",
        },
        [("pkg/pipe.py", "x + 1", "x + 9")],
    ),
    "classmethod step reaching a helper through cls": Case(
        {
            **PKG,
            "pkg/pipe.py": """
            from recyclable import recyclable

            class Pipe:
                @staticmethod
                def helper(x):
                    return x + 1

                @classmethod
                @recyclable
                def run(cls, x):
                    return cls.helper(x)

            def plain(x):
                return Pipe.__dict__["run"].__func__.__wrapped__(Pipe, x)

            STEPS = [(Pipe.run, plain, (4,))]
            """,
            "main.py": "from pkg.pipe import STEPS\n",
        },
        [("pkg/pipe.py", "x + 1", "x + 9")],
    ),
    "closure over a loop variable at module level": Case(
        {
            "main.py": """
            from recyclable import recyclable

            def make(k):
                return lambda x: x * k

            STEPS = []
            for k in (2, 3):
                step = recyclable(make(k), name=f"times{k}")
                STEPS.append((step, step.__wrapped__, (4,)))
            """
        },
        [("main.py", "for k in (2, 3)", "for k in (2, 5)")],
    ),
    "names in a tuple constant looked up in globals()": Case(
        {
            "main.py": _main(
                "",
                "def a(x):\n    return x + 1\n\ndef b(x):\n    return x * 2\n",
                "sum(globals()[n](x) for n in ('a', 'b'))",
            )
        },
        [("main.py", "x * 2", "x * 3")],
    ),
    "initial value of a global the step also assigns": Case(
        {
            "main.py": _main(
                "",
                "LIMIT = 5\n\ndef clamp(x):\n    global LIMIT\n    LIMIT = min(LIMIT, 100)\n"
                "    return min(x, LIMIT)\n",
                "clamp(x * 10)",
            )
        },
        [("main.py", "LIMIT = 5", "LIMIT = 7")],
    ),
    "functools.partialmethod argument": Case(
        {
            **PKG,
            "pkg/pm.py": "import functools\n\nclass C:\n    def mul(self, k, x):\n"
            "        return k * x\n\n    double = functools.partialmethod(mul, 2)\n",
            "main.py": _main("from pkg.pm import C", "", "C().double(x)"),
        },
        [("pkg/pm.py", "partialmethod(mul, 2)", "partialmethod(mul, 3)")],
    ),
    "registry filled by __init_subclass__ in another module": Case(
        {
            **PKG,
            "pkg/base.py": "class Base:\n    registry = {}\n\n"
            "    def __init_subclass__(cls, **kw):\n        super().__init_subclass__(**kw)\n"
            "        Base.registry[cls.__name__] = cls\n",
            "pkg/impl.py": "from pkg.base import Base\n\nclass Fast(Base):\n"
            "    def run(self, x):\n        return x + 1\n",
            "main.py": _main(
                "import pkg.impl\nfrom pkg.base import Base", "", "Base.registry['Fast']().run(x)"
            ),
        },
        [("pkg/impl.py", "x + 1", "x + 4")],
    ),
    "bound method of a module-level instance": Case(
        {
            **PKG,
            "pkg/t.py": "class T:\n    def __init__(self, k):\n        self.k = k\n\n"
            "    def run(self, x):\n        return x * self.k\n\nrun = T(2).run\n",
            "main.py": _main("from pkg.t import run", "", "run(x)"),
        },
        [("pkg/t.py", "T(2)", "T(6)")],
    ),
    "module __getattr__ attribute": Case(
        {
            **PKG,
            "pkg/lazy.py": "def __getattr__(name):\n    if name == 'K':\n        return 2\n"
            "    raise AttributeError(name)\n",
            "main.py": _main("from pkg import lazy", "", "x * lazy.K"),
        },
        [("pkg/lazy.py", "return 2", "return 5")],
    ),
    "class decorator adding a method": Case(
        {
            **PKG,
            "pkg/cd.py": "def add_scale(cls):\n    cls.scale = lambda self, x: x * 2\n"
            "    return cls\n\n@add_scale\nclass C:\n    pass\n",
            "main.py": _main("from pkg.cd import C", "", "C().scale(x)"),
        },
        [("pkg/cd.py", "x * 2", "x * 7")],
    ),
    "subclass in another module overrides a class attribute": Case(
        {
            **PKG,
            "pkg/base.py": "class Base:\n    k = 2\n\n    def run(self, x):\n"
            "        return x * self.k\n",
            "pkg/sub.py": "from pkg.base import Base\n\nclass Sub(Base):\n    k = 3\n",
            "main.py": _main("from pkg.sub import Sub", "", "Sub().run(x)"),
        },
        [("pkg/sub.py", "k = 3", "k = 8")],
    ),
    "helper as the step's default argument": Case(
        {
            **PKG,
            "pkg/util.py": "def trim(x):\n    return x - 1\n",
            "main.py": """
            from recyclable import recyclable
            from pkg.util import trim

            @recyclable
            def step(x, fn=trim):
                return fn(x)

            STEPS = [(step, step.__wrapped__, (4,))]
            """,
        },
        [("pkg/util.py", "x - 1", "x - 3")],
    ),
    "a step passed to another step": Case(
        {
            **PKG,
            "pkg/inner.py": "from recyclable import recyclable\n\n@recyclable\n"
            "def inner(x):\n    return x + 1\n",
            "main.py": """
            from recyclable import recyclable
            from pkg.inner import inner

            @recyclable
            def apply(func, x):
                return func(x) * 10

            STEPS = [(apply, apply.__wrapped__, (inner, 4))]
            """,
        },
        [("pkg/inner.py", "x + 1", "x + 2")],
    ),
    "function attribute read by the helper": Case(
        {
            **PKG,
            "pkg/fa.py": "def helper(x):\n    return x * helper.k\n\nhelper.k = 2\n",
            "main.py": _main("from pkg.fa import helper", "", "helper(x)"),
        },
        [("pkg/fa.py", "helper.k = 2", "helper.k = 3")],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_attack_edit_is_a_miss_with_the_new_result(tmp_path: Path, name: str) -> None:
    """After the edit the step computes again and equals the plain call; unchanged, it loads."""
    case = CASES[name]
    project = Project(tmp_path, case.files, entry=case.entry)
    project.extra_path = [project.root / p for p in case.extra_path]
    first = project.run()
    assert first.computed >= len(first.values)
    assert first.values == first.plain

    again = project.run()
    assert again.computed == 0
    assert again.loaded >= len(first.values)
    assert again.values == first.values

    for file, old, new in case.edits:
        project.edit(file, old, new)
    edited = project.run()
    assert edited.computed >= 1
    assert edited.values == edited.plain
    assert edited.values != first.values


def test_environment_is_named_and_left_out_of_the_key(tmp_path: Path) -> None:
    """Code reading os.environ / os.getenv / `from os import environ` lists `unkeyed os.environ`.

    Environment variables are not in a key (documented): an unrelated variable
    changing between two runs still loads, whichever spelling the code uses,
    and the key's parts say that the environment was read.
    """
    project = Project(
        tmp_path,
        {
            "main.py": """
            import os
            from os import environ, getenv
            import recyclable
            from recyclable import recyclable as rec

            @rec
            def by_module(x):
                return x + len(os.environ.get("MODE", ""))

            @rec
            def by_name(x):
                return x + len(environ.get("MODE", "")) + len(getenv("MODE", ""))

            for step in (by_module, by_name):
                print("PARTS", sorted(recyclable.code_parts(step)))
                print("UNKEYED", dict(step.__recyclable__.unkeyed))
            STEPS = [(f, f.__wrapped__, (4,)) for f in (by_module, by_name)]
            """
        },
    )
    first = project.run(UNRELATED="1")
    assert first.computed == 2
    again = project.run(UNRELATED="2")
    assert (again.loaded, again.computed) == (2, 0)

    import subprocess

    out = subprocess.run(
        project.command(),
        cwd=project.root,
        env=project.env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    parts = [line for line in out.splitlines() if line.startswith("PARTS")]
    unkeyed = [line for line in out.splitlines() if line.startswith("UNKEYED")]
    assert len(parts) == 2
    assert all("'unkeyed os.environ'" in line for line in parts)
    assert all("environment variables are not in a key" in line for line in unkeyed)


EXTENSION = """
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *scale(PyObject *self, PyObject *arg) {
    return PyLong_FromLong(PyLong_AsLong(arg) * 2);
}

static PyMethodDef methods[] = {{"scale", scale, METH_O, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "fastmath", NULL, -1, methods};
PyMODINIT_FUNC PyInit_fastmath(void) { return PyModule_Create(&module); }
"""


def _build_extension(root: Path) -> None:
    import shutil
    import subprocess
    import sysconfig

    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:  # pragma: no cover - the CI image has a C compiler
        pytest.skip("no C compiler to build a user extension module with")
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    subprocess.run(
        [
            compiler,
            "-shared",
            "-fPIC",
            f"-I{sysconfig.get_paths()['include']}",
            str(root / "fastmath.c"),
            "-o",
            str(root / f"fastmath{suffix}"),
        ],
        check=True,
    )


@pytest.mark.parametrize(
    "imports, body",
    [("import fastmath", "fastmath.scale(x)"), ("from fastmath import scale", "scale(x)")],
    ids=["module attribute", "imported name"],
)
def test_user_extension_module_rebuilt_is_a_miss(tmp_path: Path, imports: str, body: str) -> None:
    """A C extension beside the script (not installed) counts by its binary: a rebuild misses."""
    project = Project(tmp_path, {"fastmath.c": EXTENSION, "main.py": _main(imports, "", body)})
    _build_extension(project.root)
    first = project.run()
    assert (first.computed, first.values) == (1, [8])
    again = project.run()
    assert (again.loaded, again.computed) == (1, 0)

    project.edit("fastmath.c", "* 2", "* 3")
    _build_extension(project.root)
    edited = project.run()
    assert edited.computed == 1
    assert edited.values == edited.plain == [12]


def test_a_string_naming_a_mutable_global_does_not_break_a_resume(tmp_path: Path) -> None:
    """A dict key that happens to name a list another step appends to leaves the key alone.

    Strings are followed to reach code looked up by name; data they happen to
    name is not keyed, or a resume (earlier steps loaded, the list left empty)
    would miss every later step.
    """
    project = Project(
        tmp_path,
        {
            "main.py": """
            from recyclable import recyclable

            results = []

            @recyclable
            def first(x):
                results.append(x)
                return x

            @recyclable
            def second(x):
                return {"results": x}["results"] * 2

            STEPS = [(first, first.__wrapped__, (1,)), (second, second.__wrapped__, (4,))]
            """
        },
    )
    run = project.run()
    assert run.computed == 2
    resumed = project.run()
    assert (resumed.loaded, resumed.computed) == (2, 0)
    assert resumed.values == run.values == [1, 8]


def test_ufunc_made_by_frompyfunc_is_never_a_stale_hit(tmp_path: Path) -> None:
    """np.frompyfunc hides its Python code: editing that code gives the new result.

    The code cannot be read back from the ufunc, so a step reaching one gets a
    key no other process makes (a miss, never the old result), with a warning.
    """
    project = Project(
        tmp_path,
        {
            "main.py": _main(
                "import numpy as np",
                "def double(x):\n    return x * 2\n\nvdouble = np.frompyfunc(double, 1, 1)\n",
                "int(vdouble(x))",
            )
        },
    )
    first = project.run()
    assert first.values == first.plain == [8]
    project.edit("main.py", "x * 2", "x * 5")
    edited = project.run()
    assert (edited.loaded, edited.computed) == (0, 1)
    assert edited.values == edited.plain == [20]
