"""Inputs no key covers are named among a step's code parts, with the reason and the fix."""

from __future__ import annotations

import importlib.resources
import pathlib
import pkgutil
from importlib.resources import files
from typing import Any

import pytest

import recyclable


def _beside_the_code(x: int) -> int:
    return int((pathlib.Path(__file__).parent / "table.csv").exists()) + x


def _resources_module(x: int) -> int:
    return len(str(importlib.resources.files("json"))) + x


def _resources_function(x: int) -> int:
    return len(str(files("json"))) + x


def _get_data(x: int) -> int:
    return len(pkgutil.get_data("json", "__init__.py") or b"") + x


def _plain(x: int) -> int:
    return x + 1


@pytest.mark.parametrize(
    "step", [_beside_the_code, _resources_module, _resources_function, _get_data]
)
def test_package_files_are_named_as_unkeyed(step: Any) -> None:
    """Code finding files from a module lists `unkeyed package files`, saying how to key them."""
    decorated = recyclable.recyclable(step)
    assert "unkeyed package files" in recyclable.code_parts(decorated)
    reason = dict(decorated.__recyclable__.unkeyed)["unkeyed package files"]
    assert "InputFile" in reason and "files=[...]" in reason


def test_code_reading_no_package_files_has_no_such_part() -> None:
    """A step that finds no file from a module gets no `unkeyed package files` part."""
    assert "unkeyed package files" not in recyclable.code_parts(recyclable.recyclable(_plain))
