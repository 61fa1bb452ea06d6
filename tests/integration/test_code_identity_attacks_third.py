"""Attacks on the key from a pipeline's helpers, classes and configuration, run as one project.

Each case is a package with its own steps (see `batched_projects`); four fresh
interpreters run them all: a first run, an unchanged re-run (every step must
load), a run after cosmetic edits of every module (every step must still
load), and a run after each case's real edit, where each step must compute
again and give what the plain, undecorated call gives now.  The cases are
what a scientist's pipeline passes around: helpers handed to a step as
arguments, instances of user classes (plain, subclassing a library's type,
keyed through ``__recyclable_fingerprint__`` or a registered function),
methods inherited across modules, registries held weakly, code replaced by
the driver, a contextmanager used as a decorator, and a config dict a driver
changes between two calls of one run.
"""

from __future__ import annotations

from pathlib import Path

from batched_projects import Batch, BatchCase, check_reuse_and_edits

STEP = """
from recyclable import recyclable
{imports}

{helpers}

@recyclable
def step({params}):
    return {body}

STEPS = [(step, step.__wrapped__, {args})]
"""


def _main(
    imports: str, body: str, *, args: str = "(4,)", params: str = "x", helpers: str = ""
) -> dict[str, str]:
    return {
        "main.py": STEP.format(
            imports=imports, helpers=helpers, body=body, args=args, params=params
        )
    }


def _method_step(imports: str, body: str, bases: str = "") -> dict[str, str]:
    """A step that is a method of a class, called on a module-level instance."""
    return {
        "main.py": f"""
from recyclable import recyclable
{imports}

class M({bases}):
    K = 2

    def own(self):
        return 3

    @recyclable
    def step(self, x):
        return {body}

O = M()
STEPS = [(O.step, lambda x: M.step.__wrapped__(O, x), (4,))]
"""
    }


HELPER = "def helper(x):\n    return x + 1\n"
SCALE = "    def scale(self):\n        return 2\n"

CASES: dict[str, BatchCase] = {
    # --- helpers handed to a step as arguments ---------------------------------------
    "a function as an argument": BatchCase(
        {
            "h.py": HELPER,
            **_main("from PKG.h import helper", "fn(x)", args="(helper, 4)", params="fn, x"),
        },
        [("h.py", "x + 1", "x + 2")],
    ),
    "a bound method of a user object as an argument": BatchCase(
        {
            "h.py": "class H:\n    def m(self, x):\n        return x + 1\n",
            **_main("from PKG.h import H", "fn(x)", args="(H().m, 4)", params="fn, x"),
        },
        [("h.py", "x + 1", "x + 2")],
    ),
    "a class as an argument": BatchCase(
        {
            "h.py": "class H:\n    def m(self, x):\n        return x + 1\n",
            **_main("from PKG.h import H", "cls().m(x)", args="(H, 4)", params="cls, x"),
        },
        [("h.py", "x + 1", "x + 2")],
    ),
    "functools.partial of a user function as an argument": BatchCase(
        {
            "h.py": "def helper(x, k):\n    return x + k\n",
            **_main(
                "import functools\nfrom PKG.h import helper",
                "fn(x)",
                args="(functools.partial(helper, k=1), 4)",
                params="fn, x",
            ),
        },
        [("h.py", "x + k", "x + k * 2")],
    ),
    "functools.partial of a bound method as an argument": BatchCase(
        {
            "h.py": "class H:\n    def m(self, x, k):\n        return x + k\n",
            **_main(
                "import functools\nfrom PKG.h import H",
                "fn(x)",
                args="(functools.partial(H().m, k=1), 4)",
                params="fn, x",
            ),
        },
        [("h.py", "x + k", "x + k * 3")],
    ),
    "a lambda in a list argument": BatchCase(
        {
            "h.py": "FNS = [lambda x: x + 1]\n",
            **_main("from PKG.h import FNS", "fns[0](x)", args="(FNS, 4)", params="fns, x"),
        },
        [("h.py", "x + 1", "x + 2")],
    ),
    "a lambda in a dict argument": BatchCase(
        {
            "h.py": "FNS = {'a': lambda x: x + 1}\n",
            **_main("from PKG.h import FNS", "fns['a'](x)", args="(FNS, 4)", params="fns, x"),
        },
        [("h.py", "x + 1", "x + 2")],
    ),
    "operator.methodcaller as an argument": BatchCase(
        {
            "h.py": "class H:\n    def m(self):\n        return 2\n",
            **_main(
                "import operator\nfrom PKG.h import H",
                "fn(H()) * x",
                args="(operator.methodcaller('m'), 4)",
                params="fn, x",
            ),
        },
        [("h.py", "return 2", "return 3")],
    ),
    # --- instances of user classes as arguments --------------------------------------
    "an exception instance as an argument": BatchCase(
        {
            "h.py": f"class E(Exception):\n{SCALE}",
            **_main("from PKG.h import E", "e.scale() * x", args="(E('a'), 4)", params="e, x"),
        },
        [("h.py", "return 2", "return 3")],
    ),
    "an instance whose method changed, its state the same": BatchCase(
        {
            "h.py": "class H:\n    def __init__(self):\n        self.k = 2\n\n"
            "    def scale(self):\n        return self.k\n",
            **_main("from PKG.h import H", "h.scale() * x", args="(H(), 4)", params="h, x"),
        },
        [("h.py", "return self.k", "return self.k * 3")],
    ),
    "instances of dict, list, int, str and namedtuple subclasses": BatchCase(
        {
            "h.py": "import collections\n\n"
            f"class D(dict):\n{SCALE}\n"
            f"class L(list):\n{SCALE}\n"
            f"class I(int):\n{SCALE}\n"
            f"class S(str):\n{SCALE}\n"
            f"class T(collections.namedtuple('T', 'a')):\n{SCALE}",
            **_main(
                "from PKG.h import D, L, I, S, T",
                "sum(v.scale() for v in vs) * x",
                args="([D(a=1), L([1]), I(1), S('a'), T(1)], 4)",
                params="vs, x",
            ),
        },
        [("h.py", "return 2", "return 3")],
    ),
    "a numpy array subclass as an argument": BatchCase(
        {
            "h.py": f"import numpy as np\n\nclass A(np.ndarray):\n{SCALE}",
            **_main(
                "import numpy as np\nfrom PKG.h import A",
                "int(a.scale() * x)",
                args="(np.zeros(2).view(A), 4)",
                params="a, x",
            ),
        },
        [("h.py", "return 2", "return 3")],
    ),
    "a user subclass of pandas.Series as an argument": BatchCase(
        {
            "h.py": "import pandas as pd\n\nclass S(pd.Series):\n    @property\n"
            f"    def _constructor(self):\n        return S\n\n{SCALE}",
            **_main("from PKG.h import S", "int(s.scale() * x)", args="(S([1]), 4)", params="s, x"),
        },
        [("h.py", "return 2", "return 3")],
    ),
    "an instance keyed by __recyclable_fingerprint__": BatchCase(
        {
            "h.py": "class H:\n    def __recyclable_fingerprint__(self):\n"
            f"        return 'h'\n\n{SCALE}",
            **_main("from PKG.h import H", "h.scale() * x", args="(H(), 4)", params="h, x"),
        },
        [("h.py", "return 2", "return 3")],
    ),
    "an instance keyed by a registered function": BatchCase(
        {
            "h.py": "import recyclable\n\n"
            f"class H:\n    def __init__(self):\n        self.k = 1\n\n{SCALE}\n"
            "recyclable.register_fingerprint(H, lambda h: h.k)\n",
            **_main("from PKG.h import H", "h.scale() * x", args="(H(), 4)", params="h, x"),
        },
        [("h.py", "return 2", "return 3")],
    ),
    "an instance reduced to a factory function": BatchCase(
        {
            "h.py": "def make(k):\n    return H(k)\n\nclass H:\n    def __init__(self, k):\n"
            "        self.k = k\n\n    def __reduce__(self):\n        return (make, (self.k,))\n\n"
            f"{SCALE}",
            **_main("from PKG.h import H", "h.scale() * x", args="(H(1), 4)", params="h, x"),
        },
        [("h.py", "return 2", "return 3")],
    ),
    "an instance of a class pickled through copyreg": BatchCase(
        {
            "h.py": f"import copyreg\n\nclass H:\n{SCALE}\n"
            "def red(h):\n    return (H, ())\n\ncopyreg.pickle(H, red)\n",
            **_main("from PKG.h import H", "h.scale() * x", args="(H(), 4)", params="h, x"),
        },
        [("h.py", "return 2", "return 3")],
    ),
    "enum members with a method as arguments": BatchCase(
        {
            "h.py": "import enum\n\nclass E(enum.Enum):\n    A = 1\n\n"
            f"{SCALE}\nclass I(enum.IntEnum):\n    B = 2\n",
            **_main(
                "from PKG.h import E, I",
                "e.scale() * x + i",
                args="(E.A, I.B, 4)",
                params="e, i, x",
            ),
        },
        [("h.py", "return 2", "return 3"), ("h.py", "B = 2", "B = 5")],
    ),
    "dunder methods a step uses on its argument": BatchCase(
        {
            "h.py": "class H:\n    def __init__(self, v):\n        self.v = v\n\n"
            "    def __eq__(self, o):\n        return self.v == o.v\n\n"
            "    __hash__ = object.__hash__\n\n"
            "    def __lt__(self, o):\n        return self.v < o.v\n\n"
            "    def __len__(self):\n        return 2\n\n"
            "    def __repr__(self):\n        return 'a'\n\n"
            "    def __format__(self, spec):\n        return 'b'\n",
            **_main(
                "from PKG.h import H",
                "(len(h), h == H(1), [v.v for v in sorted([H(2), h])], repr(h), f'{h:x}', x)",
                args="(H(1), 4)",
                params="h, x",
            ),
        },
        [
            ("h.py", "return 2", "return 3"),
            ("h.py", "self.v == o.v", "self.v != o.v"),
            ("h.py", "self.v < o.v", "self.v > o.v"),
            ("h.py", "'a'", "'aa'"),
            ("h.py", "'b'", "'bb'"),
        ],
    ),
    # --- classes across modules -------------------------------------------------------
    "a method inherited from a base in another module": BatchCase(
        {
            "base.py": "class Base:\n    def helper(self, x):\n        return x + 1\n",
            "sub.py": "from PKG.base import Base\n\nclass Sub(Base):\n    pass\n",
            **_main("from PKG.sub import Sub", "Sub().helper(x)"),
        },
        [("base.py", "x + 1", "x + 2")],
    ),
    "a super() chain through mixins in three modules": BatchCase(
        {
            "base.py": "class Base:\n    def run(self, x):\n        return x + 1\n",
            "mix.py": "from PKG.base import Base\n\nclass Mixin(Base):\n    def run(self, x):\n"
            "        return super().run(x) * 2\n",
            "other.py": "from PKG.base import Base\n\nclass Other(Base):\n    def run(self, x):\n"
            "        return super().run(x) + 100\n",
            "c.py": "from PKG.mix import Mixin\nfrom PKG.other import Other\n\n"
            "class C(Mixin, Other):\n    pass\n",
            **_main("from PKG.c import C", "C().run(x)"),
        },
        [("other.py", "+ 100", "+ 200")],
    ),
    "a method step reading class attributes and methods through self": BatchCase(
        _method_step("", "self.K * x + self.own()"),
        [("main.py", "K = 2", "K = 5"), ("main.py", "return 3", "return 7")],
    ),
    "a method step reaching a base's static method and property": BatchCase(
        {
            "h.py": "class H:\n    @staticmethod\n    def sm(x):\n        return x + 1\n\n"
            "    @property\n    def p(self):\n        return 2\n",
            **_method_step("from PKG.h import H", "self.sm(x) * self.p", bases="H"),
        },
        [("h.py", "x + 1", "x + 2"), ("h.py", "return 2", "return 3")],
    ),
    "a step defined in a base, called on a subclass from another module": BatchCase(
        {
            "base.py": "from recyclable import recyclable\n\nclass Base:\n"
            "    def helper(self):\n        return 3\n\n    @recyclable\n"
            "    def step(self, x):\n        return x + self.helper()\n",
            "sub.py": "from PKG.base import Base\n\nclass Sub(Base):\n"
            "    def helper(self):\n        return 5\n",
            "main.py": "from PKG.sub import Sub\nfrom PKG.base import Base\n\nO = Sub()\n"
            "STEPS = [(O.step, lambda x: Base.step.__wrapped__(O, x), (4,))]\n",
        },
        [("sub.py", "return 5", "return 9")],
    ),
    "class attributes set by a base's __init_subclass__ and by a class decorator": BatchCase(
        {
            "base.py": "class B:\n    def __init_subclass__(cls, **kw):\n        cls.K = 2\n",
            "d.py": "def deco(cls):\n    cls.J = 3\n    return cls\n",
            **_main(
                "from PKG.base import B\nfrom PKG.d import deco",
                "C.K * x + C.J",
                helpers="@deco\nclass C(B):\n    pass\n",
            ),
        },
        [("base.py", "cls.K = 2", "cls.K = 4"), ("d.py", "cls.J = 3", "cls.J = 5")],
    ),
    "a metaclass __call__ setting an attribute": BatchCase(
        {
            "h.py": "class Meta(type):\n    def __call__(cls, *a):\n"
            "        obj = super().__call__(*a)\n        obj.k = 2\n        return obj\n\n"
            "class H(metaclass=Meta):\n    pass\n",
            **_main("from PKG.h import H", "H().k * x"),
        },
        [("h.py", "obj.k = 2", "obj.k = 3")],
    ),
    # --- configuration ----------------------------------------------------------------
    "a constant computed at import by a helper": BatchCase(
        {
            "h.py": "def compute():\n    return 2\n\nK = compute()\n",
            **_main("from PKG import h", "h.K * x"),
        },
        [("h.py", "return 2", "return 3")],
    ),
    "an instance built at import by a factory in another module": BatchCase(
        {
            "f.py": "class H:\n    pass\n\ndef make():\n    h = H()\n    h.k = 2\n    return h\n",
            "h.py": "from PKG.f import make\n\nINST = make()\n",
            **_main("from PKG.h import INST", "INST.k * x"),
        },
        [("f.py", "h.k = 2", "h.k = 3")],
    ),
    "config values the driver sets before the call": BatchCase(
        {
            "config.py": "K = 1\nP = {'k': 1}\n",
            "main.py": """
            from recyclable import recyclable
            from PKG import config

            config.K = 3
            config.P['k'] = 3

            @recyclable
            def step(x):
                return config.K * x + config.P['k']

            STEPS = [(step, step.__wrapped__, (4,))]
            """,
        },
        [("main.py", "config.K = 3", "config.K = 5"), ("main.py", "P['k'] = 3", "P['k'] = 7")],
    ),
    "a config dict the driver changes between two calls of one run": BatchCase(
        {
            "config.py": "P = {'k': 1, 'nested': {'j': 1}}\nL = [1]\n\n"
            "class C:\n    k = 1\n\nOBJ = C()\n",
            "main.py": """
            from recyclable import recyclable
            from PKG import config

            @recyclable
            def step(x):
                return config.P['k'] * x + config.P['nested']['j'] + config.L[0] + config.OBJ.k

            def sweep(k, run):
                def call(x):
                    config.P['k'] = k
                    config.P['nested']['j'] = k
                    config.L[0] = k
                    config.OBJ.k = k
                    return run(x)
                return call

            STEPS = [
                (sweep(k, step), sweep(k, step.__wrapped__), (4,)) for k in (2, 3, 2)
            ]
            """,
        },
        [("main.py", "for k in (2, 3, 2)", "for k in (5, 3, 6)")],
    ),
    "a registry held in weak containers": BatchCase(
        {
            "h.py": f"import weakref\n\nclass H:\n{SCALE}\nKEEP = H()\n"
            "REG = weakref.WeakValueDictionary({'a': KEEP})\nSEEN = weakref.WeakSet([KEEP])\n",
            **_main("from PKG.h import REG, SEEN", "REG['a'].scale() * x + list(SEEN)[0].scale()"),
        },
        [("h.py", "return 2", "return 3")],
    ),
    "a helper module's function replaced by the driver": BatchCase(
        {
            "h.py": HELPER,
            "main.py": """
            from recyclable import recyclable
            from PKG import h

            h.helper = lambda x: x + 5

            @recyclable
            def step(x):
                return h.helper(x)

            STEPS = [(step, step.__wrapped__, (4,))]
            """,
        },
        [("main.py", "x + 5", "x + 6")],
    ),
    "a method replaced on its class by the driver": BatchCase(
        {
            "h.py": f"class H:\n{SCALE}",
            "main.py": """
            from recyclable import recyclable
            from PKG.h import H

            H.scale = lambda self: 5

            @recyclable
            def step(x):
                return H().scale() * x

            STEPS = [(step, step.__wrapped__, (4,))]
            """,
        },
        [("main.py", "lambda self: 5", "lambda self: 6")],
    ),
    "a staticmethod object in a class-level table": BatchCase(
        {
            "h.py": "def f(x):\n    return x + 1\n\nclass C:\n    OPS = {'a': staticmethod(f)}\n",
            **_main("from PKG.h import C", "C.OPS['a'].__func__(x)"),
        },
        [("h.py", "x + 1", "x + 2")],
    ),
    "an instance's __getattr__ and a class made by type()": BatchCase(
        {
            "h.py": "class Cfg:\n    def __getattr__(self, name):\n        return 2\n\n"
            "CFG = Cfg()\n\ndef scale(self):\n    return 3\n\n"
            "C = type('C', (), {'scale': scale})\n",
            **_main("from PKG.h import CFG, C", "CFG.k * x + C().scale()"),
        },
        [("h.py", "return 2", "return 4"), ("h.py", "return 3", "return 5")],
    ),
    "a dataclass __post_init__ inherited from a base in another module": BatchCase(
        {
            "base.py": "from dataclasses import dataclass\n\n@dataclass\nclass B:\n"
            "    k: int = 1\n\n    def __post_init__(self):\n        self.k = self.k * 2\n",
            "sub.py": "from dataclasses import dataclass\nfrom PKG.base import B\n\n"
            "@dataclass\nclass S(B):\n    j: int = 1\n",
            **_main("from PKG.sub import S", "S().k * x"),
        },
        [("base.py", "self.k * 2", "self.k * 3")],
    ),
    "a callable instance as a helper's default": BatchCase(
        {
            "h.py": "class Mul:\n    def __call__(self, x):\n        return x * 2\n\n"
            "def helper(x, op=Mul()):\n    return op(x)\n",
            **_main("from PKG.h import helper", "helper(x)"),
        },
        [("h.py", "x * 2", "x * 3")],
    ),
    "a generator function as an argument": BatchCase(
        {
            "h.py": "def gen(x):\n    yield x + 1\n",
            **_main("from PKG.h import gen", "list(g(x))[0]", args="(gen, 4)", params="g, x"),
        },
        [("h.py", "x + 1", "x + 2")],
    ),
    # --- decorators around the step ---------------------------------------------------
    "a functools.wraps decorator below @recyclable, from another module": BatchCase(
        {
            "d.py": "import functools\n\ndef deco(f):\n    @functools.wraps(f)\n"
            "    def w(*a, **k):\n        return f(*a, **k) * 10\n    return w\n",
            "main.py": """
            from recyclable import recyclable
            from PKG.d import deco

            @recyclable
            @deco
            def step(x):
                return x + 1

            STEPS = [(step, step.__wrapped__, (4,))]
            """,
        },
        [("d.py", "* 10", "* 20")],
    ),
    "a class-based decorator below @recyclable, from another module": BatchCase(
        {
            "d.py": "import functools\n\nclass deco:\n    def __init__(self, f):\n"
            "        self.f = f\n        functools.update_wrapper(self, f)\n\n"
            "    def __call__(self, *a):\n        return self.f(*a) * 10\n",
            "main.py": """
            from recyclable import recyclable
            from PKG.d import deco

            @recyclable
            @deco
            def step(x):
                return x + 1

            STEPS = [(step, step.__wrapped__, (4,))]
            """,
        },
        [("d.py", "* 10", "* 20")],
    ),
    "a decorator without functools.wraps around the step's function": BatchCase(
        {
            "d.py": "def deco(f):\n    def w(*a):\n        return f(*a) * 10\n    return w\n",
            "main.py": """
            from recyclable import recyclable
            from PKG.d import deco

            def inner(x):
                return x + 1

            step = recyclable(deco(inner))
            STEPS = [(step, step.__wrapped__, (4,))]
            """,
        },
        [("d.py", "* 10", "* 20")],
    ),
    "a contextlib.contextmanager decorator below @recyclable, from another module": BatchCase(
        {
            "d.py": "import contextlib\n\nSTATE = {'k': 1}\n\n@contextlib.contextmanager\n"
            "def scaled():\n    STATE['k'] = 2\n    yield\n    STATE['k'] = 1\n",
            "main.py": """
            from recyclable import recyclable
            from PKG.d import scaled, STATE

            @recyclable
            @scaled()
            def step(x):
                return x * STATE['k']

            STEPS = [(step, step.__wrapped__, (4,))]
            """,
        },
        [("d.py", "STATE['k'] = 2", "STATE['k'] = 3")],
    ),
    "a decorator above @recyclable": BatchCase(
        {
            "h.py": HELPER,
            "main.py": """
            import functools
            from recyclable import recyclable
            from PKG.h import helper

            def deco(f):
                @functools.wraps(f)
                def w(*a, **k):
                    return f(*a, **k) * 10
                return w

            @deco
            @recyclable
            def step(x):
                return helper(x)

            STEPS = [(step, lambda x: helper(x) * 10, (4,))]
            """,
        },
        [("h.py", "x + 1", "x + 2")],
    ),
    "an async generator helper": BatchCase(
        {
            "h.py": "async def agen(x):\n    yield x + 1\n",
            **_main(
                "import asyncio\nfrom PKG.h import agen",
                "asyncio.run(collect(x))[0]",
                helpers="async def collect(x):\n    return [v async for v in agen(x)]\n",
            ),
        },
        [("h.py", "x + 1", "x + 2")],
    ),
    "a json default hook": BatchCase(
        {
            "h.py": "def enc(o):\n    return 2\n",
            **_main("import json\nfrom PKG.h import enc", "json.dumps(object(), default=enc)"),
        },
        [("h.py", "return 2", "return 3")],
    ),
}


def test_each_edit_is_a_miss_with_the_new_result(tmp_path: Path) -> None:
    """Every case: re-run and cosmetic edits load; after its edit it computes the plain result."""
    check_reuse_and_edits(Batch(tmp_path, CASES))
