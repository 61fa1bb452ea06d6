"""Docstrings and source enter a code key only when reached code reads them."""

from __future__ import annotations

import inspect
import typing

import recyclable
from recyclable.codechange import describe_part


def _helper(x: int) -> int:
    """3"""
    return x


def _plain(x: int) -> int:
    return _helper(x)


def _reads_doc(x: int) -> int:
    return _helper(x) * int(_helper.__doc__ or "1")


def _reads_source(x: int) -> int:
    return len(inspect.getsource(_helper)) + x


def test_text_parts_appear_only_for_code_reading_them() -> None:
    """A step reading `__doc__` gets `docstrings`, one calling getsource `source`, others none."""
    plain = recyclable.code_parts(_plain)
    assert "docstrings" not in plain and "source" not in plain
    assert "docstrings" in recyclable.code_parts(_reads_doc)
    assert "source" in recyclable.code_parts(_reads_source)


def _reads_annotations(x: int) -> int:
    return len(typing.get_type_hints(_helper)) + x


def test_annotation_part_appears_only_for_code_reading_annotations() -> None:
    """A step reading type hints gets `annotations` over the reached functions' annotations."""
    assert "annotations" not in recyclable.code_parts(_plain)
    assert "annotations" in recyclable.code_parts(_reads_annotations)


def test_a_changed_docstring_part_is_said_in_words() -> None:
    """explain names the text part that changed."""
    assert describe_part("docstrings") == "docstrings of the reached code changed"
    assert describe_part("source", "is new") == "source of the reached code is new"
