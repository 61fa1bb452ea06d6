"""Finding what ``recyclable run`` runs: plugins, their actions, ``module:function`` and files."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from recyclable.cli.console import TargetImportError, UsageError

#: The entry-point group plugins register under.
PLUGIN_GROUP = "recyclable.plugins"


@dataclass(frozen=True)
class Target:
    """A resolved action: what to call and the names its default pool is made of."""

    plugin: str
    action: str
    func: Callable[..., Any]
    label: str

    @property
    def recyclable(self) -> bool:
        """The action itself is decorated with ``@recyclable``."""
        return hasattr(self.func, "__recyclable__")


def plugin_entry_points() -> dict[str, EntryPoint]:
    """Installed plugins by name (the first one wins when two share a name)."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=PLUGIN_GROUP):
        found.setdefault(ep.name, ep)
    return found


def plugin_actions(name: str, ep: EntryPoint) -> dict[str, Callable[..., Any]]:
    """The recyclable actions a plugin's entry point exposes, by name."""
    try:
        obj = ep.load()
    except Exception as exc:  # a broken plugin is reported, not fatal
        raise UsageError(
            f"plugin {name!r} (entry point {ep.value}) cannot be loaded: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if hasattr(obj, "__recyclable__"):
        return {_function_name(obj): obj}
    names = getattr(obj, "__all__", None) or [n for n in dir(obj) if not n.startswith("_")]
    actions = {}
    for attr in names:
        value = getattr(obj, attr, None)
        if hasattr(value, "__recyclable__") and callable(value):
            actions[attr] = value
    return actions


def resolve(first: str, second: str | None) -> tuple[Target, bool]:
    """Resolve ``PLUGIN ACTION`` or ``module:function`` / ``file.py:function``.

    Returns:
        The target, and whether ``second`` was consumed as the action name.

    Raises:
        UsageError: the plugin, action, module, file or function does not exist.

    """
    if ":" in first:
        return _resolve_reference(first), False
    plugins = plugin_entry_points()
    if first not in plugins:
        known = ", ".join(sorted(plugins)) or "none installed"
        raise UsageError(
            f"unknown plugin {first!r} (installed plugins: {known}); give PLUGIN ACTION for an "
            f"installed plugin (entry-point group {PLUGIN_GROUP!r}), or module:function, "
            "or path/to/file.py:function"
        )
    actions = plugin_actions(first, plugins[first])
    listing = ", ".join(sorted(actions)) or "none"
    if second is None or second.startswith("-"):
        raise UsageError(f"missing ACTION for plugin {first!r} (its actions: {listing})")
    name = second.replace("-", "_")
    if name not in actions:
        raise UsageError(f"plugin {first!r} has no action {second!r} (its actions: {listing})")
    return Target(first, name, actions[name], f"{first} {name}"), True


def _resolve_reference(reference: str) -> Target:
    location, _, attr = reference.rpartition(":")
    if not location or not attr:
        raise UsageError(f"target {reference!r} is not module:function or path/to/file.py:function")
    if location.endswith(".py") or "/" in location or location.startswith("."):
        module, plugin = _import_file(Path(location)), Path(location).stem
    else:
        module, plugin = _import_module(location), location.split(".")[0]
    func: Any = module
    for part in attr.split("."):
        func = getattr(func, part, None)
        if func is None:
            break
    if func is None or not callable(func):
        candidates = sorted(
            n
            for n, v in vars(module).items()
            if not n.startswith("_")
            and callable(v)
            and (hasattr(v, "__recyclable__") or inspect.isfunction(v))
            and getattr(v, "__module__", None) == module.__name__
        )
        raise UsageError(
            f"{location} has no function {attr!r} (functions there: "
            f"{', '.join(candidates) or 'none'})"
        )
    return Target(plugin, _function_name(func), func, reference)


def _import_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise UsageError(
                f"no module named {name!r}; check the spelling, install it, or add its "
                "directory to PYTHONPATH"
            ) from None
        raise TargetImportError(f"importing module {name!r} failed") from exc
    except Exception as exc:
        raise TargetImportError(f"importing module {name!r} failed") from exc


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise UsageError(f"no file {str(path)!r}; give path/to/file.py:function")
    name = path.stem
    existing = sys.modules.get(name)
    resolved = path.resolve()
    if existing is not None and getattr(existing, "__file__", None) == str(resolved):
        return existing
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise UsageError(f"{str(path)!r} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    # Like `python file.py`: the file's directory is importable, and the module
    # is registered under its name so its functions pickle by reference.
    sys.path.insert(0, str(resolved.parent))
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise TargetImportError(f"importing {str(path)!r} failed") from exc
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _function_name(func: Any) -> str:
    name = getattr(func, "__name__", None) or type(func).__name__
    return str(name)
