"""An action's parameters as command-line options, converted by their annotations.

``foo_bar: int = 3`` becomes ``--foo-bar INT`` (default 3).  Supported
annotations: ``int``, ``float``, ``str``, ``bool`` (``--flag/--no-flag``),
``pathlib.Path``, ``list[X]``/``tuple[X, ...]``/``set[X]`` (repeat the
option), ``Enum`` and ``Literal`` (choices), ``dict`` (JSON), and ``X | None``
(as ``X``).  A parameter without an annotation takes the type of its default.
A parameter of another type cannot be given on the command line: it must have
a default, or the action cannot be run from the command line.
"""

from __future__ import annotations

import argparse
import enum
import inspect
import json
import pathlib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from recyclable.cli.console import UsageError


@dataclass(frozen=True)
class Parameter:
    """One action parameter as the command line sees it."""

    name: str
    option: str
    type_label: str
    required: bool
    default: Any
    convert: Callable[[str], Any] | None
    kind: str  # "value", "flag", "multiple"
    choices: tuple[str, ...] | None
    collect: Callable[[list[Any]], Any] | None


def parameters_of(func: Callable[..., Any]) -> list[Parameter]:
    """The command-line view of every parameter of ``func``.

    Raises:
        UsageError: a parameter without a default has a type the command line cannot give.

    """
    plain = inspect.unwrap(func)
    signature = inspect.signature(func)
    try:
        hints = typing.get_type_hints(plain)
    except Exception:  # noqa: BLE001 - unresolvable annotations fall back to the defaults' types
        hints = {}
    params = []
    for p in signature.parameters.values():
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if p.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise UsageError(
                f"{func.__qualname__} has positional-only parameter {p.name!r}, which cannot "
                "be given as an option; make it a regular parameter to run it from the CLI"
            )
        annotation = hints.get(p.name, p.annotation)
        required = p.default is inspect.Parameter.empty
        default = None if required else p.default
        if annotation is inspect.Parameter.empty:
            annotation = type(default) if default is not None else str
        param = _parameter(p.name, annotation, required, default)
        if param is None:
            if required:
                raise UsageError(
                    f"parameter {p.name!r} of {func.__qualname__} has type "
                    f"{_label(annotation)}, which cannot be given on the command line; give it a "
                    "default, or wrap the action in a function taking paths or numbers"
                )
            continue
        params.append(param)
    return params


def _parameter(name: str, annotation: Any, required: bool, default: Any) -> Parameter | None:
    option = "--" + name.replace("_", "-")
    annotation = _strip_optional(annotation)
    origin = typing.get_origin(annotation)
    if annotation is bool:
        return Parameter(name, option, "bool", required, default, None, "flag", None, None)
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple, set, frozenset):
        args = typing.get_args(annotation)
        item = args[0] if args else str
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            item = args[0]
        elif origin is tuple and args:
            item = args[0] if all(a == args[0] for a in args) else None
        scalar = None if item is None else _scalar(item)
        if scalar is None:
            return None
        convert, label, choices = scalar
        container = origin or annotation
        return Parameter(
            name,
            option,
            f"{container.__name__}[{label}], repeat the option",
            required,
            default,
            convert,
            "multiple",
            choices,
            container,
        )
    scalar = _scalar(annotation)
    if scalar is None:
        return None
    convert, label, choices = scalar
    return Parameter(name, option, label, required, default, convert, "value", choices, None)


def _scalar(annotation: Any) -> tuple[Callable[[str], Any], str, tuple[str, ...] | None] | None:
    if annotation in (int, float, str):
        return annotation, annotation.__name__, None
    if annotation in (pathlib.Path, pathlib.PurePath, pathlib.PosixPath):
        return pathlib.Path, "path", None
    if annotation is dict or typing.get_origin(annotation) is dict:
        return _json_object, "JSON object", None
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        members = annotation.__members__

        def to_member(text: str) -> Any:
            if text in members:
                return members[text]
            for member in annotation:  # also accept the value: --mode fast
                if str(member.value) == text:
                    return member
            raise ValueError(text)

        return to_member, annotation.__name__, tuple(members)
    if typing.get_origin(annotation) is typing.Literal:
        values = typing.get_args(annotation)
        by_text = {str(v): v for v in values}

        def to_literal(text: str) -> Any:
            if text not in by_text:
                raise ValueError(text)
            return by_text[text]

        return to_literal, "choice", tuple(by_text)
    return None


def _json_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(text)
    return value


_json_object.__name__ = "JSON object"


def _strip_optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _label(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation)


def add_to_parser(parser: argparse.ArgumentParser, params: list[Parameter]) -> None:
    """Add one option per parameter; values absent from the command line stay absent."""
    group = parser.add_argument_group("action parameters")
    # Shown right after the description: they are what a user looks for first.
    groups = parser._action_groups
    groups.insert(1, groups.pop())
    for p in params:
        shown = "required" if p.required else f"default: {_default_text(p.default)}"
        help_text = f"{p.type_label} ({shown})"
        common: dict[str, Any] = {
            "dest": p.name,
            "default": argparse.SUPPRESS,
            "required": p.required,
            "help": help_text,
        }
        if p.kind == "flag":
            group.add_argument(p.option, action=argparse.BooleanOptionalAction, **common)
            continue
        converter = _named(p)
        metavar = p.name.upper() if p.choices is None else "{" + ",".join(p.choices) + "}"
        if p.kind == "multiple":
            group.add_argument(p.option, action="append", type=converter, metavar=metavar, **common)
        else:
            group.add_argument(p.option, type=converter, metavar=metavar, **common)


def _named(p: Parameter) -> Callable[[str], Any]:
    convert = p.convert
    assert convert is not None

    def converter(text: str) -> Any:
        try:
            return convert(text)
        except (ValueError, TypeError):
            valid = f"; valid: {', '.join(p.choices)}" if p.choices else ""
            raise argparse.ArgumentTypeError(
                f"invalid {p.type_label} value: {text!r}{valid}"
            ) from None

    converter.__name__ = p.type_label
    return converter


def collect(params: list[Parameter], namespace: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments to call the action with (absent options use the defaults)."""
    values = vars(namespace)
    kwargs = {}
    for p in params:
        if p.name not in values:
            continue
        value = values[p.name]
        if p.collect is not None:
            value = p.collect(value)
        kwargs[p.name] = value
    return kwargs


def _default_text(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, pathlib.PurePath):
        return str(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
