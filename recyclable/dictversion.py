"""Whether a dict was changed since it was last looked at, in one read per dict.

CPython 3.6 to 3.13 give every dict a 64-bit version tag (``ma_version_tag``,
PEP 509) that takes a new, globally unique value whenever the dict's contents
change: an item added, replaced by another object, deleted, the dict cleared
or updated.  The interpreter's own caches of global names rely on it.  Python
code cannot see it, so it is read here with ctypes from the dict object,
whose address never changes while the dict lives.

This lets revalidation of a code key (`recyclable.codeid`) skip checking each
of the names a step reads from a module, a class or the builtins: an
unchanged tag says no entry was rebound.  A changed tag proves nothing by
itself (another global of the module may have been assigned), so the caller
then checks each entry by identity, as it does wherever the tag is not
available.

The tag is used only where it was checked to behave as above: CPython 3.6 to
3.13 (3.14 turned the field into a watcher tag that no longer changes with
the contents) with the GIL, a dict layout as expected (the item count read at
its offset matches ``len``), and every kind of change tried once on a probe
dict changing the tag.  Anywhere else `DictVersions` is never built and every
call checks each entry.
"""

from __future__ import annotations

import gc
import sys
import sysconfig
from collections.abc import Callable, Iterable, Mapping
from operator import attrgetter
from typing import Any

__all__ = ["DictVersions", "backing_dict", "tag_value", "versions_available"]

_offset: int | None = None
_probed = False
#: A tag's current value, read from the dict (``map(tag_value, versions.tags)``).
tag_value = attrgetter("value")


class DictVersions:
    """The version tags of some dicts, to tell cheaply whether any of them changed.

    Holds the dicts, so that the memory it reads stays theirs.
    """

    __slots__ = ("_dicts", "seen", "tags")

    def __init__(self, dicts: Iterable[dict[Any, Any]]) -> None:
        import ctypes

        offset = _offset
        assert offset is not None, "versions_available() first"
        self._dicts = tuple(dicts)
        #: One ctypes view of each dict's tag.
        self.tags = tuple(ctypes.c_uint64.from_address(id(d) + offset) for d in self._dicts)
        #: The tags when the entries were last found unchanged.
        self.seen = self.now()

    def now(self) -> tuple[int, ...]:
        """The dicts' current tags (equal to ``seen`` when none changed since)."""
        return tuple(map(tag_value, self.tags))

    def __reduce__(self) -> Any:
        # A copy would read its own memory, whose tag never changes: refused.
        raise TypeError("DictVersions reads live dicts of this process; it cannot be copied")


def backing_dict(namespace: Mapping[Any, Any]) -> dict[Any, Any] | None:
    """The dict behind a namespace (a dict, or a mapping proxy over one), or None."""
    if type(namespace) is dict:
        return namespace
    if type(namespace) is type(type.__dict__):  # a class's __dict__, a registry's view
        inner = gc.get_referents(namespace)
        if len(inner) == 1 and type(inner[0]) is dict:
            return inner[0]
    return None


def versions_available() -> bool:
    """Whether dict version tags can be read and trusted in this interpreter (probed once)."""
    global _offset, _probed  # noqa: PLW0603 - probed once per process
    if not _probed:
        _offset = _probe()
        _probed = True
    return _offset is not None


def _probe() -> int | None:
    """The offset of the version tag in a dict object, or None where it cannot be trusted."""
    if sys.implementation.name != "cpython" or not (3, 6) <= sys.version_info[:2] <= (3, 13):
        return None
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        return None
    try:
        import ctypes

        head = object.__basicsize__  # reference count and type (more in a tracing build)
        size = ctypes.sizeof(ctypes.c_ssize_t)
        offset = head + size  # after ma_used
        if dict.__basicsize__ < offset + 8:
            return None
        probe: dict[Any, Any] = {}
        for count in (0, 1, 5):
            probe.clear()
            probe.update((f"k{i}", i) for i in range(count))
            if ctypes.c_ssize_t.from_address(id(probe) + head).value != count:
                return None
        tag = ctypes.c_uint64.from_address(id(probe) + offset)
        changes: list[Callable[[dict[Any, Any]], Any]] = [
            lambda d: d.__setitem__("new", 1),
            lambda d: d.__setitem__("new", object()),
            lambda d: d.__delitem__("new"),
            lambda d: d.setdefault("other", 2),
            lambda d: d.pop("other"),
            lambda d: d.update(more=3),
            lambda d: d.popitem(),
            lambda d: d.clear(),
        ]
        for change in changes:
            before = tag.value
            change(probe)
            if tag.value == before:
                return None
    except Exception:  # noqa: BLE001 - no ctypes, an unexpected layout: check every entry
        return None
    return offset
