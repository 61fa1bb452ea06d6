"""Code identity in one process: revalidation, what counts, explanations, any callable."""

from __future__ import annotations

import functools
import logging
import math
import types
from typing import Any

import pytest

import recyclable as rc
from recyclable import Cache, recyclable
from recyclable.bytecode import code_info


def _key(step: Any, *args: Any) -> str:
    spec = step.__recyclable__
    return spec.key_for(spec.bind(args, {})).key


BASE = """
from recyclable import recyclable

SCALE = 2

def trim(x):
    return x - 1

@recyclable
def step(x):
    return trim(x) * SCALE
"""


def test_redefined_helper_in_one_process_is_a_new_key(module: Any) -> None:
    """Re-running a helper's definition (a notebook cell) changes the key of the next call."""
    module.define(BASE)
    before = _key(module.step, 5)
    assert _key(module.step, 5) == before
    module.define("def trim(x):\n    return x - 2\n")
    assert _key(module.step, 5) != before
    module.define("def trim(x):\n    return x - 1\n")
    assert _key(module.step, 5) == before


def test_swapped_code_object_is_a_new_key(module: Any) -> None:
    """Replacing a helper's __code__ in place is seen on the next call."""
    module.define(BASE)
    before = _key(module.step, 5)
    module.trim.__code__ = (lambda x: x - 3).__code__
    assert _key(module.step, 5) != before


def test_helper_replaced_by_a_proxy_that_compares_equal_is_a_new_key(module: Any) -> None:
    """Revalidation is by identity: a wrapt proxy equal to the helper it replaced still misses."""
    import wrapt

    module.define(BASE)
    before = _key(module.step, 5)
    proxy = wrapt.FunctionWrapper(module.trim, lambda wrapped, _i, args, kw: wrapped(*args) * 10)
    assert proxy == module.trim
    module.trim = proxy
    assert _key(module.step, 5) != before


def test_method_added_to_a_subclass_later_is_a_new_key(module: Any) -> None:
    """A method set on a class after the first key (shadowing its base's) changes the key."""
    module.define(
        """
        from recyclable import recyclable

        class Base:
            def prep(self, x):
                return x + 1

        class Child(Base):
            def run(self, x):
                return self.prep(x)

        @recyclable
        def step(x):
            return Child().run(x)
        """
    )
    before = _key(module.step, 5)
    module.Child.prep = lambda self, x: x + 100
    assert _key(module.step, 5) != before


def test_swapped_defaults_of_a_helper_are_a_new_key(module: Any) -> None:
    """Assigning a helper's __defaults__ in place is seen on the next call."""
    module.define(
        BASE
        + "\ndef scaled(x, k=2):\n    return x * k\n\n"
        + "@recyclable\ndef uses(x):\n    return scaled(x)\n"
    )
    before = _key(module.uses, 5)
    module.scaled.__defaults__ = (3,)
    assert _key(module.uses, 5) != before


def test_module_constant_and_its_explanation(module: Any, cache: Cache) -> None:
    """A module constant is in the key by value, and explain names it."""
    module.define(BASE)
    pool = cache.create_pool("p")
    with pool:
        assert module.step(5) == 8
    module.define("SCALE = 3")
    assert pool.explain(module.step, 5) == (
        f"code of step changed (module constant {module.__name__}.SCALE changed)"
    )
    module.define("def trim(x):\n    return x - 4\n")
    assert f"code of {module.__name__}.trim changed" in pool.explain(module.step, 5)


def test_closure_value_is_named_by_explain(cache: Cache) -> None:
    """Two closures of one factory differ by their cell value, and explain names the cell."""

    def make(factor: int) -> Any:
        def scaled(x: int) -> int:
            return x * factor

        return scaled

    pool = cache.create_pool("p")
    with pool:
        assert recyclable(make(2), name="scaled")(4) == 8
    assert "closure value `factor` of " in pool.explain(recyclable(make(3), name="scaled"), 4)
    assert "make.<locals>.scaled changed" in pool.explain(recyclable(make(3), name="scaled"), 4)


def test_list_the_step_appends_to_does_not_make_every_call_a_miss(
    module: Any, cache: Cache
) -> None:
    """A module-level list the step appends to, or a counter it assigns, still lets calls load."""
    module.define(
        """
        from recyclable import recyclable

        CALLS = []
        COUNT = 0

        @recyclable
        def step(x):
            global COUNT
            COUNT += 1
            CALLS.append(x)
            return x + 1
        """
    )
    pool = cache.create_pool("p")
    with pool:
        assert [module.step(1) for _ in range(3)] == [2, 2, 2]
    assert (pool.stats.computed, pool.stats.loaded) == (1, 2)
    assert module.CALLS == [1]
    assert f"state {module.__name__}.COUNT" in rc.code_parts(module.step)


def test_unfingerprintable_value_is_left_out_and_named(
    module: Any, cache: Cache, caplog: pytest.LogCaptureFixture
) -> None:
    """A lock the step uses is left out of the key, logged at DEBUG and named by explain."""
    module.define(
        """
        import threading
        from recyclable import recyclable

        LOCK = threading.Lock()
        OFFSET = 1

        @recyclable
        def step(x):
            with LOCK:
                return x + OFFSET
        """
    )
    caplog.set_level(logging.DEBUG, logger="recyclable")
    parts = rc.code_parts(module.step)
    assert f"unkeyed {module.__name__}.LOCK" in parts
    assert any("LOCK is left out of the code key" in r.getMessage() for r in caplog.records)
    pool = cache.create_pool("p")
    with pool:
        module.step(1)
    module.define("OFFSET = 2")
    assert f"left out of the key: {module.__name__}.LOCK" in (pool.explain(module.step, 1))


def test_mutual_recursion_is_followed_both_ways(module: Any) -> None:
    """Helpers that call each other end the walk, and an edit to either changes the key."""
    module.define(
        """
        from recyclable import recyclable

        def even(n):
            return True if n == 0 else odd(n - 1)

        def odd(n):
            return False if n == 0 else even(n - 1)

        @recyclable
        def step(n):
            return even(n)
        """
    )
    before = _key(module.step, 4)
    assert {f"code {module.__name__}.even", f"code {module.__name__}.odd"} <= set(
        rc.code_parts(module.step)
    )
    module.define("def odd(n):\n    return n % 2 == 1\n")
    assert _key(module.step, 4) != before


def test_code_digest_ignores_docstrings_and_line_numbers() -> None:
    """The same code with another docstring, no docstring or at another line digests the same."""
    plain = "def f(x):\n    return [v + 1 for v in x if v]\n"
    documented = '\n\n\ndef f(x):\n    """Docs."""\n    return [v + 1 for v in x if v]\n'
    changed = "def f(x):\n    return [v + 2 for v in x if v]\n"

    def code(source: str) -> types.CodeType:
        namespace: dict[str, Any] = {}
        exec(compile(source, "<test>", "exec"), namespace)
        return namespace["f"].__code__  # type: ignore[no-any-return]

    assert code_info(code(plain)).digest == code_info(code(documented)).digest
    assert code_info(code(plain)).digest != code_info(code(changed)).digest


def test_code_parts_lists_qualified_parts(module: Any) -> None:
    """code_parts() names each part by module and qualified name, the step's own first."""
    module.define(BASE)
    parts = rc.code_parts(module.step)
    name = module.__name__
    assert next(iter(parts)) == f"code {name}.step"
    assert {f"code {name}.trim", f"constant {name}.SCALE"} <= set(parts)
    assert all(len(digest) == 32 for digest in parts.values())


class Scaler:
    """A callable with state, for decorating bound methods and callable instances."""

    def __init__(self, k: int) -> None:
        self.k = k

    def scale(self, x: int) -> int:
        return x * self.k

    def __call__(self, x: int) -> int:
        return x + self.k


def _sub(a: int, b: int) -> int:
    return a - b


def test_decorated_partial_bound_method_instance_and_builtin(cache: Cache) -> None:
    """Every kind of callable memoizes; a bound method's and an instance's state is in the key."""
    scaler = Scaler(2)
    method = recyclable(scaler.scale)
    partial = recyclable(functools.partial(_sub, 10))
    instance = recyclable(Scaler(5))
    builtin = recyclable(math.sqrt)
    pool = cache.create_pool("p")
    with pool:
        assert [method(3), partial(3), instance(1), builtin(16.0)] == [6, 7, 6, 4.0]
        assert [method(3), partial(3), instance(1), builtin(16.0)] == [6, 7, 6, 4.0]
        assert pool.stats.loaded == 4
        scaler.k = 3
        assert method(3) == 9
    assert pool.stats.computed == 5
    assert pool.explain(partial, 4) == "argument 'b' changed"


def test_callable_without_a_signature_is_a_clear_type_error() -> None:
    """A callable whose signature cannot be read is refused at decoration with what to do."""
    with pytest.raises(TypeError, match="cannot read the signature of builtin_function_or_method"):
        recyclable(max)
    with pytest.raises(TypeError, match="wrap it in a def"):
        recyclable(getattr)


def test_keys_are_stable_while_nothing_changes(module: Any) -> None:
    """Revalidation keeps the cached identity: the same object, no new walk, the same key."""
    module.define(BASE)
    spec = module.step.__recyclable__
    first = _key(module.step, 5)
    identity = spec._identity
    assert [_key(module.step, 5) for _ in range(3)] == [first] * 3
    assert spec._identity is identity


def test_a_walk_that_fails_gives_a_key_no_other_process_can_hit(
    module: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A walk that fails gives a key unique to the process, and a warning says so."""
    import recyclable.codewalk as codewalk

    module.define(BASE)

    def broken(self: Any, func: Any, name: str) -> bytes:
        raise RuntimeError("cannot walk this")

    monkeypatch.setattr(codewalk.Walker, "_function", broken)
    first = rc.code_parts(module.step)
    second = rc.code_parts(recyclable(name="again")(module.step.__wrapped__))
    assert any(name.startswith("unidentified ") for name in first)
    assert first != second
    assert any("could not be fully fingerprinted" in r.getMessage() for r in caplog.records)


class Model:
    """Decorates its own method in __init__, as a user keeping per-instance recycling would."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.fit = recyclable(self.fit)

    def fit(self, x: int) -> int:
        return x * self.k


def test_bound_method_decorated_in_init_keys_the_instance_state(cache: Cache) -> None:
    """self.fit = recyclable(self.fit): the instance's state is in each key, and it loads."""
    model = Model(2)
    pool = cache.create_pool("p")
    with pool:
        assert [model.fit(3), model.fit(3)] == [6, 6]
        model.k = 4
        assert model.fit(3) == 12
        assert Model(2).fit(3) == 6
    assert (pool.stats.computed, pool.stats.loaded) == (2, 2)
