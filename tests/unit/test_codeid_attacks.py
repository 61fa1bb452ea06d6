"""Code identity in one process, attacked: what changes after the first key must change it."""

from __future__ import annotations

import sys
from typing import Any


def _key(step: Any, *args: Any) -> str:
    spec = step.__recyclable__
    return str(spec.key_for(spec.bind(args, {})).key)


SINGLEDISPATCH = """
import functools
from recyclable import recyclable

@functools.singledispatch
def scale(x):
    return x

@scale.register
def _(x: int):
    return x * 2

@recyclable
def step(x):
    return scale(x)
"""


def test_singledispatch_registration_after_the_first_key_is_a_new_key(module: Any) -> None:
    """Registering an implementation later in the process (a notebook cell) changes the key.

    The registry is a mapping proxy over a dict that register() fills in place.
    """
    module.define(SINGLEDISPATCH)
    before = _key(module.step, 2.0)
    assert _key(module.step, 2.0) == before
    module.define("@scale.register\ndef _(x: float):\n    return x * 10\n")
    assert _key(module.step, 2.0) != before


def test_singledispatch_reregistration_is_a_new_key(module: Any) -> None:
    """Registering int again with new code replaces an entry: the key changes."""
    module.define(SINGLEDISPATCH)
    before = _key(module.step, 2)
    module.define("@scale.register\ndef _(x: int):\n    return x * 3\n")
    assert _key(module.step, 2) != before


def test_function_attribute_assigned_after_the_first_key_is_a_new_key(module: Any) -> None:
    """helper.k = 3 after a first call changes the next call's key; assigning it back restores."""
    module.define(
        """
        from recyclable import recyclable

        def helper(x):
            return x * helper.k

        helper.k = 2

        @recyclable
        def step(x):
            return helper(x)
        """
    )
    before = _key(module.step, 4)
    module.helper.k = 3
    assert _key(module.step, 4) != before
    module.helper.k = 2
    assert _key(module.step, 4) == before


def test_helper_named_by_a_string_redefined_is_a_new_key(module: Any) -> None:
    """globals()["helper"] reaches the helper: redefining it in the process changes the key."""
    module.define(
        """
        from recyclable import recyclable

        def helper(x):
            return x + 1

        @recyclable
        def step(x):
            return globals()["helper"](x)
        """
    )
    before = _key(module.step, 4)
    assert _key(module.step, 4) == before
    module.define("def helper(x):\n    return x + 2\n")
    assert _key(module.step, 4) != before


def test_reloaded_helper_module_is_a_new_key(tmp_path: Any, monkeypatch: Any) -> None:
    """importlib.reload of an edited helper module (a notebook's reload) changes the next key."""
    import importlib

    name = f"reloaded_helpers_{id(object())}"
    (tmp_path / f"{name}.py").write_text("def trim(x):\n    return x - 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    helpers = importlib.import_module(name)
    try:
        namespace: dict[str, Any] = {"__name__": f"{name}_steps"}
        exec(
            f"import {name} as helpers\nfrom recyclable import recyclable\n\n"
            "@recyclable\ndef step(x):\n    return helpers.trim(x)\n",
            namespace,
        )
        step = namespace["step"]
        before = _key(step, 4)
        (tmp_path / f"{name}.py").write_text("def trim(x):\n    return x - 2\n")
        importlib.reload(helpers)
        assert _key(step, 4) != before
    finally:
        sys.modules.pop(name, None)


def test_environment_held_as_a_default_is_named_not_keyed(module: Any) -> None:
    """os.environ as a helper's default is `unkeyed os.environ`, not the whole environment.

    Keyed by value, any variable of the shell (an unrelated one included)
    changed every key; code reading os.environ directly gets the same part.
    """
    import os

    import recyclable

    module.define(
        """
        import os

        def helper(name, env=os.environ):
            return env.get(name, "")

        def step(x):
            return x + len(helper("MODE"))
        """
    )
    parts = recyclable.code_parts(module.step)
    assert "unkeyed os.environ" in parts
    assert not any(name.startswith("default ") for name in parts)
    os.environ["RECYCLABLE_TEST_UNRELATED"] = "1"
    try:
        module.define("def step(x):\n    return x + len(helper('MODE'))\n")
        assert recyclable.code_parts(module.step) == parts
    finally:
        del os.environ["RECYCLABLE_TEST_UNRELATED"]


def test_accessor_registered_again_in_the_process_is_a_new_key(cache: Any) -> None:
    """A pandas accessor registered again under its name (a notebook cell run again) misses.

    The key covers the accessor class for code reading ``s.<name>``, and the
    registration is checked like any namespace entry the key was read from.
    """
    import warnings

    import pandas as pd

    from recyclable import recyclable

    def register(factor: int) -> None:
        class Scaled:
            def __init__(self, s: Any) -> None:
                self.s = s

            def run(self) -> int:
                return int(self.s.sum()) * factor

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas warns that the name is taken again
            pd.api.extensions.register_series_accessor("recyclable_scaled")(Scaled)

    @recyclable
    def step(s: Any) -> int:
        return int(s.recyclable_scaled.run())

    series = pd.Series([1, 2])
    try:
        register(2)
        with cache.create_pool("p") as pool:
            assert step(series) == 6
            assert step(series) == 6
            register(3)
            assert step(series) == 9
            assert (pool.stats.loaded, pool.stats.computed) == (1, 2)
    finally:
        del pd.Series.recyclable_scaled
