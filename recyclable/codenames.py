"""How reached code is named in a key, and where it comes from.

Parts are named by module and qualified name; ``__main__`` (and a spawned
worker's ``__mp_main__``) is named as the script's own module, so running
``python pipeline.py`` and importing ``pipeline`` give the same names.
"""

from __future__ import annotations

import builtins
import sys
import types
from typing import Any

from recyclable.distinfo import Origin, module_origin

__all__ = ["is_user_code", "module_display_name", "origin_of", "qualified_name"]


def is_user_code(obj: Any) -> bool:
    """Whether a function or class comes from user code (not an installed distribution)."""
    module = getattr(obj, "__module__", None)
    return (
        not isinstance(module, str)
        or _made_without_module(obj, module)
        or module_origin(module).kind == "user"
        or _defined_in_user_code(obj)
    )


def _defined_in_user_code(obj: Any) -> bool:
    """Whether a function's code was written in a user module, whatever ``__module__`` claims.

    ``functools.wraps(math.floor)`` on a user's wrapper copies ``__module__``
    (``math``) onto it: taken at its word, the wrapper's own code would count
    as the standard library and an edit of it would not be seen.  The module
    whose globals the function runs with is where its code was written.
    """
    if not isinstance(obj, types.FunctionType):
        return False
    name = obj.__globals__.get("__name__")
    return not isinstance(name, str) or module_origin(name).kind == "user"


def _made_without_module(obj: Any, module: str) -> bool:
    """Whether ``obj`` is Python code made with no module, which only claims ``builtins``.

    Code run by ``exec`` in a namespace without ``__name__`` gives functions
    the module None and classes the module ``builtins``; taken at its word,
    the code would be keyed by the Python version alone, so an edit of it
    would not be seen.  No real builtin is a Python function, and a real
    builtin class is found in `builtins` under its name or is a static C type
    (``mappingproxy``, ``function``), never made by a class statement.
    """
    if module != "builtins":
        return False
    if isinstance(obj, types.FunctionType):
        return True
    return (
        isinstance(obj, type)
        and bool(obj.__flags__ & _HEAP_TYPE)
        and getattr(builtins, obj.__qualname__, None) is not obj
    )


_HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made at run time, not a static C type


def module_display_name(module: str) -> str:
    """A module's name in part names: ``__main__`` as the script's own module name."""
    if module not in ("__main__", "__mp_main__"):  # __mp_main__: a spawned worker's script
        return module
    main = sys.modules.get(module)
    spec = getattr(main, "__spec__", None)
    if spec is not None and getattr(spec, "name", None):
        return str(spec.name)
    file = getattr(main, "__file__", None)
    if isinstance(file, str):
        stem = file.replace("\\", "/").rsplit("/", 1)[-1]
        return stem[:-3] if stem.endswith(".py") else stem
    return "__main__"


def qualified_name(obj: Any) -> str:
    """Module (as displayed) and qualified name of a function, class or builtin."""
    module = getattr(obj, "__module__", None)
    if not isinstance(module, str):
        module = str(getattr(type(obj), "__module__", "?"))
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not isinstance(name, str):
        name = type(obj).__qualname__
    return f"{module_display_name(module)}.{name}"


def origin_of(obj: Any) -> Origin:
    """Where a function, class or other object's code comes from, by its module."""
    module = getattr(obj, "__module__", None)
    if not isinstance(module, str):
        if isinstance(obj, (types.FunctionType, type)):
            return Origin("user")  # made by exec with no module: follow its code
        module = getattr(type(obj), "__module__", None)
    if not isinstance(module, str) or _made_without_module(obj, module):
        return Origin("user")
    origin = module_origin(module)
    if origin.kind != "user" and _defined_in_user_code(obj):
        return Origin("user")
    return origin
