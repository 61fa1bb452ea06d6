"""More attacks on the code part of a key, run together in one project of many packages.

Each case is a package with its own steps; four fresh interpreters run them
all: a first run, an unchanged re-run (every step must load), a run after
cosmetic edits of every module (comments, docstrings, blank lines: every step
must still load), and a run after each case's real edit, where each step must
compute again and give what the plain, undecorated call gives now.
"""

from __future__ import annotations

from pathlib import Path

from batched_projects import Batch, BatchCase, check_reuse_and_edits

STEP = """
from recyclable import recyclable
{imports}

{helpers}

@recyclable
def step(x):
    return {body}

STEPS = [(step, step.__wrapped__, (4,))]
"""


def _main(imports: str, helpers: str, body: str) -> dict[str, str]:
    return {"main.py": STEP.format(imports=imports, helpers=helpers, body=body)}


CASES: dict[str, BatchCase] = {
    "operator.methodcaller of a user method": BatchCase(
        {
            "h.py": "class H:\n    def apply(self, x):\n        return x + 1\n",
            **_main(
                "import operator\nfrom PKG.h import H",
                "CALL = operator.methodcaller('apply', 4)\n",
                "CALL(H()) + x",
            ),
        },
        [("h.py", "x + 1", "x + 2")],
    ),
    "operator.attrgetter of a user property": BatchCase(
        {
            "h.py": "class H:\n    @property\n    def k(self):\n        return 2\n\nINST = H()\n",
            **_main(
                "import operator\nfrom PKG.h import INST",
                "GET = operator.attrgetter('k')\n",
                "GET(INST) * x",
            ),
        },
        [("h.py", "return 2", "return 3")],
    ),
    "functools.reduce over a global helper": BatchCase(
        {
            "h.py": "def add(a, b):\n    return a + b + 1\n",
            **_main(
                "import functools\nfrom PKG.h import add", "", "functools.reduce(add, [x, x, x])"
            ),
        },
        [("h.py", "a + b + 1", "a + b + 2")],
    ),
    "map of a global helper": BatchCase(
        {
            "h.py": "def inc(a):\n    return a + 1\n",
            **_main("from PKG.h import inc", "", "sum(map(inc, [x, x]))"),
        },
        [("h.py", "a + 1", "a + 5")],
    ),
    "functools.cached_property": BatchCase(
        {
            "h.py": "import functools\n\nclass H:\n    @functools.cached_property\n"
            "    def k(self):\n        return 2\n",
            **_main("from PKG.h import H", "", "H().k * x"),
        },
        [("h.py", "return 2", "return 7")],
    ),
    "__call__ of a callable instance argument's class": BatchCase(
        {
            "h.py": "class Scaler:\n    def __call__(self, x):\n        return x * 2\n",
            "main.py": """
            from recyclable import recyclable
            from PKG.h import Scaler

            @recyclable
            def step(fn, x):
                return fn(x)

            STEPS = [(step, step.__wrapped__, (Scaler(), 4))]
            """,
        },
        [("h.py", "x * 2", "x * 3")],
    ),
    "__post_init__ of a dataclass the step builds": BatchCase(
        {
            "h.py": "from dataclasses import dataclass\n\n@dataclass\nclass P:\n    k: int = 2\n\n"
            "    def __post_init__(self):\n        self.k = self.k * 10\n",
            **_main("from PKG.h import P", "", "P().k + x"),
        },
        [("h.py", "self.k * 10", "self.k * 100")],
    ),
    "metaclass method": BatchCase(
        {
            "h.py": "class Meta(type):\n    def scale(cls):\n        return 2\n\n"
            "class C(metaclass=Meta):\n    pass\n",
            **_main("from PKG.h import C", "", "C.scale() * x"),
        },
        [("h.py", "return 2", "return 9")],
    ),
    "__class_getitem__": BatchCase(
        {
            "h.py": "class C:\n    def __class_getitem__(cls, item):\n        return item * 2\n",
            **_main("from PKG.h import C", "", "C[x]"),
        },
        [("h.py", "item * 2", "item * 3")],
    ),
    "descriptor __get__ on a helper class": BatchCase(
        {
            "h.py": "class D:\n    def __get__(self, obj, owner):\n        return 2\n\n"
            "class C:\n    k = D()\n",
            **_main("from PKG.h import C", "", "C().k * x"),
        },
        [("h.py", "return 2", "return 6")],
    ),
    "__slots__ class": BatchCase(
        {
            "h.py": "class S:\n    __slots__ = ('k',)\n\n    def __init__(self):\n"
            "        self.k = 2\n",
            **_main("from PKG.h import S", "", "S().k * x"),
        },
        [("h.py", "self.k = 2", "self.k = 5")],
    ),
    "dataclass(slots=True) default": BatchCase(
        {
            "h.py": "from dataclasses import dataclass\n\n@dataclass(slots=True)\nclass P:\n"
            "    k: int = 2\n",
            **_main("from PKG.h import P", "", "P().k * x"),
        },
        [("h.py", "k: int = 2", "k: int = 5")],
    ),
    "dataclass field metadata": BatchCase(
        {
            "h.py": "from dataclasses import dataclass, field\n\n@dataclass\nclass P:\n"
            "    k: int = field(default=1, metadata={'scale': 2})\n",
            **_main(
                "import dataclasses\nfrom PKG.h import P",
                "",
                "dataclasses.fields(P)[0].metadata['scale'] * x",
            ),
        },
        [("h.py", "'scale': 2", "'scale': 3")],
    ),
    "annotations read by typing.get_type_hints": BatchCase(
        {
            "h.py": "class C:\n    k: int\n",
            **_main(
                "import typing\nfrom PKG.h import C",
                "",
                "len(typing.get_type_hints(C)['k'].__name__) * x",
            ),
        },
        [("h.py", "k: int", "k: float")],
    ),
    "TypedDict keys": BatchCase(
        {
            "h.py": "from typing import TypedDict\n\nclass T(TypedDict):\n    a: int\n    b: int\n",
            **_main("from PKG.h import T", "", "len(T.__annotations__) * x"),
        },
        [("h.py", "    b: int\n", "    b: int\n    c: int\n")],
    ),
    "contextlib.contextmanager helper": BatchCase(
        {
            "h.py": "import contextlib\n\n@contextlib.contextmanager\ndef scaled():\n    yield 2\n",
            **_main(
                "from PKG.h import scaled",
                "def use(x):\n    with scaled() as k:\n        return x * k\n",
                "use(x)",
            ),
        },
        [("h.py", "yield 2", "yield 3")],
    ),
    "functools.wraps around a library function": BatchCase(
        {
            "deco.py": "import functools\n\ndef doubled(func):\n    @functools.wraps(func)\n"
            "    def wrapper(*args):\n        return func(*args) * 2\n    return wrapper\n",
            "h.py": "import math\nfrom PKG.deco import doubled\n\nfloor = doubled(math.floor)\n",
            **_main("from PKG.h import floor", "", "floor(x + 0.5)"),
        },
        [("deco.py", "* 2", "* 3")],
    ),
    "functools.lru_cache helper": BatchCase(
        {
            "h.py": "import functools\n\n@functools.lru_cache(maxsize=None)\ndef f(x):\n"
            "    return x + 1\n",
            **_main("from PKG.h import f", "", "f(x)"),
        },
        [("h.py", "x + 1", "x + 2")],
    ),
    "staticmethod through the class": BatchCase(
        {
            "h.py": "class C:\n    @staticmethod\n    def f(x):\n        return x + 1\n",
            **_main("from PKG.h import C", "", "C.f(x)"),
        },
        [("h.py", "x + 1", "x + 2")],
    ),
    "lambda in a module-level dict": BatchCase(
        {
            "h.py": "OPS = {'inc': lambda x: x + 1}\n",
            **_main("from PKG.h import OPS", "", "OPS['inc'](x)"),
        },
        [("h.py", "x + 1", "x + 2")],
    ),
    "lambda in a module-level list": BatchCase(
        {
            "h.py": "OPS = [lambda x: x + 1]\n",
            **_main("from PKG import h", "", "h.OPS[0](x)"),
        },
        [("h.py", "x + 1", "x + 2")],
    ),
    "helper defined inside try": BatchCase(
        {
            "h.py": "try:\n    import not_a_module_anywhere\nexcept ImportError:\n"
            "    def f(x):\n        return x + 1\n",
            **_main("from PKG.h import f", "", "f(x)"),
        },
        [("h.py", "x + 1", "x + 2")],
    ),
    "helper defined inside if TYPE_CHECKING else": BatchCase(
        {
            "h.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    def f(x): ...\n"
            "else:\n"
            "    def f(x):\n        return x + 1\n",
            **_main("from PKG.h import f", "", "f(x)"),
        },
        [("h.py", "x + 1", "x + 2")],
    ),
    "keyword-only default of a helper": BatchCase(
        {
            "h.py": "def f(x, *, k=2):\n    return x * k\n",
            **_main("from PKG.h import f", "", "f(x)"),
        },
        [("h.py", "k=2", "k=3")],
    ),
    "helper default from a module constant": BatchCase(
        {
            "h.py": "K = 2\n\ndef f(x, k=K):\n    return x * k\n",
            **_main("from PKG.h import f", "", "f(x)"),
        },
        [("h.py", "K = 2", "K = 3")],
    ),
    "the step's own keyword-only default": BatchCase(
        {
            "main.py": """
            from recyclable import recyclable

            @recyclable
            def step(x, *, k=2):
                return x * k

            STEPS = [(step, step.__wrapped__, (4,))]
            """,
        },
        [("main.py", "k=2", "k=3")],
    ),
    "constants of many types": BatchCase(
        {
            "consts.py": """
            import decimal, fractions
            FS = frozenset({1, 2})
            TT = ((1, 2), (3, 4))
            BY = b"ab"
            DE = decimal.Decimal("1.5")
            FR = fractions.Fraction(1, 2)
            CO = 1 + 2j
            """,
            **_main(
                "from PKG.consts import FS, TT, BY, DE, FR, CO",
                "",
                "int(x * (sum(FS) + TT[1][1] + len(BY) + float(DE) + float(FR) + CO.imag) * 2)",
            ),
        },
        [("consts.py", 'b"ab"', 'b"abc"')],
    ),
    "numpy constants": BatchCase(
        {
            "consts.py": "import numpy as np\nS = np.float32(2.0)\nA = np.array([1, 2])\n\n"
            "class C:\n    W = np.array([3, 4])\n",
            **_main("from PKG.consts import S, A, C", "", "int(S * x + A.sum() + C.W.sum())"),
        },
        [("consts.py", "np.array([3, 4])", "np.array([3, 5])")],
    ),
    "pandas constant": BatchCase(
        {
            "consts.py": "import pandas as pd\nT = pd.Series([1, 2], index=['a', 'b'])\n",
            **_main("from PKG.consts import T", "", "int(T['b']) * x"),
        },
        [("consts.py", "[1, 2]", "[1, 5]")],
    ),
    "constant star-imported into a package __init__": BatchCase(
        {
            "__init__.py": "from .consts import *\n",
            "consts.py": "K = 2\n",
            **_main("import PKG", "", "PKG.K * x"),
        },
        [("consts.py", "K = 2", "K = 3")],
    ),
    "constant re-exported through a package __init__": BatchCase(
        {
            "__init__.py": "from .consts import K\n",
            "consts.py": "K = 2\n",
            **_main("from PKG import K", "", "K * x"),
        },
        [("consts.py", "K = 2", "K = 3")],
    ),
    "module __getattr__ reached through getattr with an argument": BatchCase(
        {
            "lazy.py": "def __getattr__(name):\n    return 2\n",
            "main.py": """
            from recyclable import recyclable
            from PKG import lazy

            @recyclable
            def step(name, x):
                return getattr(lazy, name) * x

            STEPS = [(step, step.__wrapped__, ("K", 4))]
            """,
        },
        [("lazy.py", "return 2", "return 3")],
    ),
    "class attribute read through type(self) in a base in another module": BatchCase(
        {
            "base.py": "class Base:\n    def run(self, x):\n        return x * type(self).K\n",
            "sub.py": "from PKG.base import Base\n\nclass Sub(Base):\n    K = 2\n",
            **_main("from PKG.sub import Sub", "", "Sub().run(x)"),
        },
        [("sub.py", "K = 2", "K = 3")],
    ),
    "enum with a method used as a default": BatchCase(
        {
            "h.py": "import enum\n\nclass Mode(enum.Enum):\n    A = 1\n\n    def k(self):\n"
            "        return 2\n\n"
            "def f(x, mode=Mode.A):\n    return x * mode.k()\n",
            **_main("from PKG.h import f", "", "f(x)"),
        },
        [("h.py", "return 2", "return 3")],
    ),
    "np.vectorize of a helper": BatchCase(
        {
            "h.py": "import numpy as np\n\ndef f(x):\n    return x + 1\n\nvf = np.vectorize(f)\n",
            **_main("from PKG.h import vf", "", "int(vf(x))"),
        },
        [("h.py", "x + 1", "x + 2")],
    ),
    "sorted with a key helper": BatchCase(
        {
            "h.py": "def key(v):\n    return -v\n",
            **_main("from PKG.h import key", "", "sorted([x, 1, 2], key=key)[0]"),
        },
        [("h.py", "return -v", "return v")],
    ),
    "callable instance held in a module constant": BatchCase(
        {
            "h.py": "class Scaler:\n    def __init__(self, k):\n        self.k = k\n\n"
            "    def __call__(self, x):\n        return x * self.k\n\nSCALE = Scaler(2)\n",
            **_main("from PKG.h import SCALE", "", "SCALE(x)"),
        },
        [("h.py", "Scaler(2)", "Scaler(3)")],
    ),
    "method of a class reached only as an argument's type": BatchCase(
        {
            "h.py": "class Box:\n    def __init__(self, v):\n        self.v = v\n\n"
            "    def get(self):\n        return self.v + 1\n",
            "main.py": """
            from recyclable import recyclable
            from PKG.h import Box

            @recyclable
            def step(box):
                return box.get()

            STEPS = [(step, step.__wrapped__, (Box(4),))]
            """,
        },
        [("h.py", "self.v + 1", "self.v + 2")],
    ),
    "__getstate__ of an argument's class": BatchCase(
        {
            "h.py": "class Box:\n    def __init__(self, v):\n        self.v = v\n\n"
            "    def __getstate__(self):\n        return {'v': self.v}\n\n"
            "    def __setstate__(self, state):\n        self.v = state['v']\n",
            "main.py": """
            from recyclable import recyclable
            from PKG.h import Box

            @recyclable
            def step(box):
                return box.__getstate__()['v']

            STEPS = [(step, step.__wrapped__, (Box(4),))]
            """,
        },
        [("h.py", "return {'v': self.v}", "return {'v': self.v + 1}")],
    ),
    "functools.partial of a user function in a constant": BatchCase(
        {
            "h.py": "import functools\n\ndef mul(k, x):\n    return k * x\n\n"
            "DOUBLE = functools.partial(mul, 2)\n",
            **_main("from PKG.h import DOUBLE", "", "DOUBLE(x)"),
        },
        [("h.py", "k * x", "k * x + 1")],
    ),
    "class with __init__ in a base in another module": BatchCase(
        {
            "base.py": "class Base:\n    def __init__(self):\n        self.k = 2\n",
            "sub.py": "from PKG.base import Base\n\nclass Sub(Base):\n    pass\n",
            **_main("from PKG.sub import Sub", "", "Sub().k * x"),
        },
        [("base.py", "self.k = 2", "self.k = 3")],
    ),
    "a generic alias list[Helper] subscripted": BatchCase(
        {
            "h.py": "class H:\n    def __init__(self, *a):\n        self.k = 2\n",
            **_main("from PKG.h import H", "ALIAS = list[H]\n", "ALIAS.__args__[0]().k * x"),
        },
        [("h.py", "self.k = 2", "self.k = 3")],
    ),
    "weakref-held callback in a registry class": BatchCase(
        {
            "h.py": "class Reg:\n    hooks = []\n\ndef hook(x):\n    return x + 1\n\n"
            "Reg.hooks.append(hook)\n",
            **_main("from PKG.h import Reg", "", "Reg.hooks[0](x)"),
        },
        [("h.py", "x + 1", "x + 2")],
    ),
    "plugin module imported by a name built at run time": BatchCase(
        {
            "plugins/__init__.py": "",
            "plugins/fast.py": "def run(x):\n    return x + 1\n",
            "main.py": """
            import importlib
            from recyclable import recyclable

            @recyclable
            def step(kind, x):
                return importlib.import_module("PKG.plugins." + kind).run(x)

            STEPS = [(step, step.__wrapped__, ("fast", 4))]
            """,
        },
        [("plugins/fast.py", "x + 1", "x + 2")],
    ),
    "attrs class default": BatchCase(
        {
            "h.py": "import attrs\n\n@attrs.define\nclass P:\n    k: int = 2\n",
            **_main("from PKG.h import P", "", "P().k * x"),
        },
        [("h.py", "k: int = 2", "k: int = 5")],
    ),
    "functools.singledispatchmethod": BatchCase(
        {
            "h.py": """
            import functools

            class C:
                @functools.singledispatchmethod
                def f(self, x):
                    return x

                @f.register
                def _(self, x: int):
                    return x * 2
            """,
            **_main("from PKG.h import C", "", "C().f(x)"),
        },
        [("h.py", "x * 2", "x * 3")],
    ),
    "collections.namedtuple defaults": BatchCase(
        {
            "h.py": "import collections\n\nP = collections.namedtuple('P', 'k', defaults=[2])\n",
            **_main("from PKG.h import P", "", "P().k * x"),
        },
        [("h.py", "defaults=[2]", "defaults=[3]")],
    ),
    "types.SimpleNamespace config": BatchCase(
        {
            "h.py": "import types\n\nCONF = types.SimpleNamespace(k=2)\n",
            **_main("from PKG.h import CONF", "", "CONF.k * x"),
        },
        [("h.py", "k=2", "k=3")],
    ),
    "sys.modules[__name__].helper": BatchCase(
        _main(
            "import sys", "def helper(x):\n    return x + 1\n", "sys.modules[__name__].helper(x)"
        ),
        [("main.py", "x + 1", "x + 2")],
    ),
    "__import__ of a dotted name": BatchCase(
        {
            "h.py": "def f(x):\n    return x + 1\n",
            **_main("import PKG.h", "", "__import__('PKG.h').h.f(x)"),
        },
        [("h.py", "x + 1", "x + 2")],
    ),
    "vars(module)[name]": BatchCase(
        {
            "h.py": "def f(x):\n    return x + 1\n",
            **_main("from PKG import h", "", "vars(h)['f'](x)"),
        },
        [("h.py", "x + 1", "x + 2")],
    ),
    "user singleton whose __reduce__ names it": BatchCase(
        {
            "h.py": "class Config:\n    def __init__(self):\n        self.k = 2\n\n"
            "    def __reduce__(self):\n        return 'CONFIG'\n\nCONFIG = Config()\n",
            **_main("from PKG.h import CONFIG", "", "CONFIG.k * x"),
        },
        [("h.py", "self.k = 2", "self.k = 3")],
    ),
    "functools.total_ordering": BatchCase(
        {
            "h.py": """
            import functools

            @functools.total_ordering
            class V:
                def __init__(self, v):
                    self.v = v

                def __eq__(self, other):
                    return self.v == other.v

                def __lt__(self, other):
                    return self.v < other.v
            """,
            **_main("from PKG.h import V", "", "int(V(x) >= V(3))"),
        },
        [("h.py", "self.v < other.v", "self.v > other.v")],
    ),
    "Enum _missing_": BatchCase(
        {
            "h.py": "import enum\n\nclass M(enum.Enum):\n    A = 1\n    B = 2\n\n"
            "    @classmethod\n    def _missing_(cls, value):\n        return cls.A\n",
            **_main("from PKG.h import M", "", "M(x).value"),
        },
        [("h.py", "return cls.A", "return cls.B")],
    ),
    "__init_subclass__ keyword": BatchCase(
        {
            "base.py": "class Base:\n    def __init_subclass__(cls, k=1, **kw):\n"
            "        super().__init_subclass__(**kw)\n        cls.k = k\n",
            "sub.py": "from PKG.base import Base\n\nclass Sub(Base, k=2):\n    pass\n",
            **_main("from PKG.sub import Sub", "", "Sub.k * x"),
        },
        [("sub.py", "k=2", "k=3")],
    ),
    "__set_name__ descriptor": BatchCase(
        {
            "h.py": """
            class Field:
                def __set_name__(self, owner, name):
                    self.name = name + "_x"

                def __get__(self, obj, owner):
                    return len(self.name)

            class C:
                ab = Field()
            """,
            **_main("from PKG.h import C", "", "C().ab * x"),
        },
        [("h.py", 'name + "_x"', 'name + "_xy"')],
    ),
    "a helper's docstring read by code": BatchCase(
        {
            "h.py": 'def rule(x):\n    """2"""\n    return x\n',
            **_main("from PKG.h import rule", "", "rule(x) * int(rule.__doc__)"),
        },
        [("h.py", '"""2"""', '"""3"""')],
    ),
    "a helper's source read by inspect.getsource": BatchCase(
        {
            "h.py": "def rule(x):\n    # weight 2\n    return x\n",
            **_main(
                "import inspect\nfrom PKG.h import rule",
                "",
                "rule(x) * inspect.getsource(rule).count('2')",
            ),
        },
        [("h.py", "# weight 2", "# weight 2 2")],
    ),
    "plugin imported through an f-string name": BatchCase(
        {
            "plugins/__init__.py": "",
            "plugins/slow.py": "def run(x):\n    return x * 2\n",
            "main.py": """
            import importlib
            from recyclable import recyclable

            @recyclable
            def step(kind, x):
                return importlib.import_module(f"PKG.plugins.{kind}").run(x)

            STEPS = [(step, step.__wrapped__, ("slow", 4))]
            """,
        },
        [("plugins/slow.py", "x * 2", "x * 3")],
    ),
    "eval of a string calling a helper": BatchCase(
        _main(
            "", "def helper(x):\n    return x + 1\n", "eval('helper(x) * 2', globals(), {'x': x})"
        ),
        [("main.py", "x + 1", "x + 2")],
    ),
    "globals() looked up by a prefix plus an argument": BatchCase(
        {
            "main.py": """
            from recyclable import recyclable

            def op_inc(x):
                return x + 1

            def op_dec(x):
                return x - 1

            @recyclable
            def step(kind, x):
                return globals()["op_" + kind](x)

            STEPS = [(step, step.__wrapped__, ("inc", 4))]
            """,
        },
        [("main.py", "x + 1", "x + 5")],
    ),
    "virtual subclass registered on an ABC in another module": BatchCase(
        {
            "base.py": "import abc\n\nclass Base(abc.ABC):\n    pass\n",
            "impl.py": "class Impl:\n    pass\n",
            "reg.py": "from PKG.base import Base\nfrom PKG.impl import Impl\n\n"
            "Base.register(Impl)\n",
            **_main(
                "import PKG.reg\nfrom PKG.base import Base\nfrom PKG.impl import Impl",
                "",
                "x + (10 if isinstance(Impl(), Base) else 0)",
            ),
        },
        [("reg.py", "Base.register(Impl)", "pass")],
    ),
    "user class registered on a standard-library ABC": BatchCase(
        {
            "impl.py": "import numbers\n\nclass Impl:\n    pass\n\nnumbers.Number.register(Impl)\n",
            **_main(
                "import numbers\nfrom PKG.impl import Impl",
                "",
                "x + (10 if isinstance(Impl(), numbers.Number) else 0)",
            ),
        },
        [("impl.py", "numbers.Number.register(Impl)", "pass")],
    ),
    "a helper's annotation read by typing.get_type_hints": BatchCase(
        {
            "h.py": "def convert(x: int):\n    return x\n",
            **_main(
                "import typing\nfrom PKG.h import convert",
                "",
                "len(typing.get_type_hints(convert)['x'].__name__) * x",
            ),
        },
        [("h.py", "x: int", "x: float")],
    ),
}


def test_each_edit_is_a_miss_with_the_new_result(tmp_path: Path) -> None:
    """Every case: re-run and cosmetic edits load; after its edit it computes the plain result."""
    check_reuse_and_edits(Batch(tmp_path, CASES))


def test_user_code_registered_into_an_installed_library(tmp_path: Path) -> None:
    """User code reached through an installed library's registry is in the key.

    An implementation registered on a library's ``singledispatch`` function,
    a pandas accessor class, a subclass a library's ``__init_subclass__`` put
    in its registry, and a class in a library's module-level plugin table that
    the library's own function looks up, run only when the library dispatches
    to them: editing any is a miss with the new result; unchanged, all load.
    """
    from projects import Project

    project = Project(
        tmp_path,
        {
            "site/reglib/__init__.py": "import functools\n\n@functools.singledispatch\n"
            "def describe(x):\n    return 0\n\n"
            "class Plugin:\n    registry = {}\n\n    def __init_subclass__(cls, **kw):\n"
            "        super().__init_subclass__(**kw)\n"
            "        Plugin.registry[cls.__name__] = cls\n\n"
            "PLUGINS = {}\n\ndef register(cls):\n    PLUGINS[cls.__name__] = cls\n"
            "    return cls\n\n"
            "def run(name, x):\n    return PLUGINS[name]().go(x)\n",
            "site/reglib-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: reglib\n"
            "Version: 1.0\n",
            "site/reglib-1.0.dist-info/RECORD": "reglib/__init__.py,,\n"
            "reglib-1.0.dist-info/METADATA,,\n",
            "impls.py": "import reglib\n\n@reglib.describe.register\ndef _(x: int):\n"
            "    return x * 2\n\nclass Fast(reglib.Plugin):\n    def run(self, x):\n"
            "        return x + 1\n\n@reglib.register\nclass Slow:\n    def go(self, x):\n"
            "        return x - 1\n",
            "accessors.py": "import pandas as pd\n\n"
            "@pd.api.extensions.register_series_accessor('twice')\nclass Twice:\n"
            "    def __init__(self, s):\n        self.s = s\n\n    def run(self):\n"
            "        return int(self.s.sum()) * 2\n",
            "main.py": """
            import pandas as pd
            import reglib
            import impls, accessors
            from recyclable import recyclable

            @recyclable
            def described(x):
                return reglib.describe(x)

            @recyclable
            def twice(s):
                return s.twice.run()

            @recyclable
            def plugged(name, x):
                return reglib.Plugin.registry[name]().run(x)

            @recyclable
            def ran(name, x):
                return reglib.run(name, x)

            SERIES = pd.Series([1, 2])
            STEPS = [
                (described, described.__wrapped__, (4,)),
                (twice, twice.__wrapped__, (SERIES,)),
                (plugged, plugged.__wrapped__, ("Fast", 4)),
                (ran, ran.__wrapped__, ("Slow", 4)),
            ]
            """,
        },
    )
    project.extra_path = [project.root / "site"]
    first = project.run()
    assert first.values == first.plain == [8, 6, 5, 3]
    again = project.run()
    assert (again.loaded, again.computed) == (4, 0)
    project.edit("impls.py", "x * 2", "x * 3")
    project.edit("impls.py", "x + 1", "x + 7")
    project.edit("impls.py", "x - 1", "x - 3")
    project.edit("accessors.py", "* 2", "* 5")
    edited = project.run()
    assert edited.plain == [12, 15, 11, 1]
    assert edited.values == edited.plain
