"""The ``@recyclable`` action behind a function cached through `recyclable.Memory`.

`call_target` finds the function a callable runs and the arguments it puts in
front (a partial's, a bound method's instance, a callable object, an
``@recyclable`` method's instance); `action_for` decorates that function once
per process and ignore list, and `decorate` leaves the function itself as it
was.
"""

from __future__ import annotations

import functools
import inspect
import threading
import types
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import wrapt

from recyclable.callkey import ActionSpec
from recyclable.decorator import RecyclableFunction, recyclable

__all__ = ["action_for", "call_target", "decorate"]


# Actions made for plain functions, by (function, ignored names): libraries call
# memory.cache(func) on every fit, and the code fingerprint is worth taking
# once per process, as @recyclable takes it once per decoration.  Bounded, as
# the actions keep their functions alive.
_ACTIONS_MAX = 256
_actions: OrderedDict[tuple[Any, tuple[str, ...]], tuple[Any, ActionSpec, Any]] = OrderedDict()
_actions_lock = threading.Lock()


def decorate(target: Callable[..., Any], **options: Any) -> tuple[Any, ActionSpec]:
    """``@recyclable(**options)(target)`` and the spec its wrapper keys with."""
    attributes = getattr(target, "__dict__", None)
    with _actions_lock:
        before = dict(attributes) if isinstance(attributes, dict) else None
        action = recyclable(**options)(target)
        # Read at once: wrapt passes the attribute through to the function, so a
        # later decoration of the same function would replace what is read here.
        spec: ActionSpec = action.__recyclable__
        if before is not None and attributes is not None:
            # The function is left as it was: the action is called with any
            # instance as an argument, so it needs no spec on the function, and
            # one there (holding this process's live code checks) would make a
            # function pickled by value (cloudpickle, for worker processes)
            # unpicklable once its key has been computed.
            if "__recyclable__" in before:
                attributes["__recyclable__"] = before["__recyclable__"]
            else:
                attributes.pop("__recyclable__", None)
    # As with joblib.Memory, a cached function may change its arguments (a
    # Pipeline's _fit_transform_one fits the clone it is given and returns it).
    spec.checks_arguments = False
    return action, spec


def action_for(target: Callable[..., Any], ignore: tuple[str, ...]) -> tuple[Any, ActionSpec]:
    """The ``@recyclable(ignore=...)`` action of ``target`` and its spec, made once, then reused."""
    key = (target, ignore)
    code = getattr(target, "__code__", None)
    try:
        with _actions_lock:
            made = _actions.get(key)
            if made is not None and made[2] is code:
                _actions.move_to_end(key)
                return made[0], made[1]
    except TypeError:  # an unhashable callable: made each time
        return decorate(target, ignore=list(ignore))
    action, spec = decorate(target, ignore=list(ignore))
    with _actions_lock:
        _actions[key] = (action, spec, code)
        _actions.move_to_end(key)
        while len(_actions) > _ACTIONS_MAX:
            _actions.popitem(last=False)
    return action, spec


def call_target(func: Any) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    """The function a callable runs, with the arguments it puts in front of the caller's.

    A partial's arguments, a bound method's instance and a callable object
    itself become arguments of the plain function, so they are keyed by value
    like any other argument (``obj.f(x)`` keys as ``Class.f(obj, x)``).
    """
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    for _ in range(16):  # partials of bound methods of partials... end somewhere
        if isinstance(func, RecyclableFunction):
            break
        if isinstance(func, wrapt.BoundFunctionWrapper) and isinstance(
            func._self_parent, RecyclableFunction
        ):
            # An @recyclable method reached through a class or an instance.
            # Never wrap the bound wrapper in another action: both would take
            # the same key, and the outer one's claim would block the inner.
            parent, instance = func._self_parent, func._self_instance
            if isinstance(parent.__wrapped__, types.FunctionType):
                # obj.step: the action itself, the instance in front (wrapt
                # keeps it on the bound wrapper, not in __self__).
                if instance is not None:
                    args = (instance, *args)
                func = parent
                break
            func = func.__wrapped__  # a class or static method: the plain one
            continue
        if isinstance(func, functools.partial):
            args = (*func.args, *args)
            kwargs = {**func.keywords, **kwargs}
            func = func.func
        elif inspect.ismethod(func):
            args = (func.__self__, *args)
            func = func.__func__
        elif not inspect.isroutine(func) and not isinstance(func, type):
            call = inspect.getattr_static(type(func), "__call__", None)
            if not isinstance(call, types.FunctionType):
                break  # a ufunc or another object whose call is not Python code
            args = (func, *args)
            func = call
        else:
            break
    return func, args, kwargs
