"""Fixtures shared by the unit tests of code identity."""

from __future__ import annotations

import sys
import textwrap
import types
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def module() -> Iterator[Any]:
    """A fresh user module (no file: followed by content) that a test fills with code."""
    name = f"user_module_{id(object())}"
    mod = types.ModuleType(name)
    sys.modules[name] = mod

    def define(source: str) -> types.ModuleType:
        exec(textwrap.dedent(source), mod.__dict__)
        return mod

    mod.define = define  # type: ignore[attr-defined]
    try:
        yield mod
    finally:
        del sys.modules[name]
