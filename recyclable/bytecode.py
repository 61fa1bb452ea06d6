"""One code object → a digest of what it does, and the global names it reaches.

Read from the code object loaded in the process, never from a source file:
a file saved while a run is under way must not change the running process's
keys.  The digest covers every instruction with its argument, the constants
the instructions load (by value, nested code objects recursively), the names,
local variable names, argument counts, flags and (3.11+) the exception table;
it leaves out line numbers, positions, the file name and the docstring (a
constant no instruction loads), so comments, docstrings, blank lines and
formatting do not change it.  Opcode numbers and encodings differ between
Python minor versions, so the same source may give another digest under
another Python.

Alongside the digest, the global names the code loads are returned as
attribute chains (``LOAD_GLOBAL util`` + ``LOAD_ATTR trim`` → ``("util",
"trim")``), with the globals it writes and the modules it imports at run time.
"""

from __future__ import annotations

import dis
import struct
import sys
import types
from dataclasses import dataclass

import xxhash

__all__ = ["CodeInfo", "code_info"]

_OP = dis.opmap
_LOAD_GLOBAL = _OP["LOAD_GLOBAL"]
_LOAD_NAME = _OP["LOAD_NAME"]
_LOAD_ATTR = _OP["LOAD_ATTR"]
_LOAD_METHOD = _OP.get("LOAD_METHOD", -1)
_LOAD_DEREF = _OP["LOAD_DEREF"]
_STORE_CELL = frozenset({_OP["STORE_DEREF"], _OP["DELETE_DEREF"]})
_STORE_GLOBAL = _OP["STORE_GLOBAL"]
_DELETE_GLOBAL = _OP["DELETE_GLOBAL"]
_STORE_NAME = _OP["STORE_NAME"]
_IMPORT_NAME = _OP["IMPORT_NAME"]
_IMPORT_FROM = _OP["IMPORT_FROM"]
_CACHE = _OP.get("CACHE", -1)
_EXTENDED_ARG = dis.EXTENDED_ARG
# Methods that change their object in place (lists, dicts, sets, deques, arrays).
_MUTATORS = frozenset(
    {
        "append", "extend", "insert", "pop", "popitem", "remove", "clear", "update",
        "setdefault", "add", "discard", "sort", "reverse", "appendleft", "extendleft",
        "popleft", "rotate", "__setitem__", "__delitem__", "fill", "resize", "put",
    }
)  # fmt: skip
# What writes into the object below it on the stack.
_CHANGE_IN_PLACE = frozenset(
    _OP[name]
    for name in ("STORE_SUBSCR", "DELETE_SUBSCR", "STORE_ATTR", "DELETE_ATTR", "STORE_SLICE")
    if name in _OP
)
# What may come between loading an object and writing into it in one expression
# (``CACHE[key] = v``, ``COUNTS[k] += 1``, ``TABLE[a][b] = v``).
_WITHIN_EXPRESSION = frozenset(
    _OP[name]
    for name in (
        "LOAD_CONST", "LOAD_FAST", "LOAD_DEREF", "LOAD_CLOSURE", "BINARY_SUBSCR", "COPY",
        "SWAP", "BINARY_OP", "BUILD_TUPLE", "DUP_TOP", "DUP_TOP_TWO", "ROT_TWO", "ROT_THREE",
        "INPLACE_ADD", "BINARY_ADD", "BUILD_SLICE", "BINARY_SLICE",
    )
    if name in _OP
)  # fmt: skip
_HASCONST = frozenset(dis.hasconst)
# 3.11 packs a push-NULL bit into LOAD_GLOBAL's argument, 3.12 a method bit into LOAD_ATTR's.
_GLOBAL_SHIFT = 1 if sys.version_info >= (3, 11) else 0
_ATTR_SHIFT = 1 if sys.version_info >= (3, 12) else 0


@dataclass(frozen=True)
class CodeInfo:
    """What one code object (with its nested code) does and reaches.

    Attributes:
        digest: 16 bytes over instructions, loaded constants, names and argument structure.
        chains: global names loaded, each with the attributes read straight after it,
            in first-use order.
        stores: global names the code assigns or deletes.
        imports: ``(module name, level, names imported from it)`` per run-time import.
        strings: string constants the code loads, in first-use order: a name
            looked up at run time (``globals()["helper"]``, ``getattr(m, "f")``,
            ``importlib.import_module("pkg.util")``) is one of them.
        attributes: every attribute name the code reads, in first-use order,
            wherever the object comes from (``sys.modules[__name__].helper``).
        changes: chains of names whose object the code changes in place
            (``RUNS.append(x)``, ``config.CACHE[k] = v``, ``STATE.n = 1``; a closure
            variable as ``("<cell>", name)``), as far as one expression shows it:
            such a value is the step's own state.
        cell_stores: free variables the code assigns (``nonlocal calls; calls += 1``).

    """

    digest: bytes
    chains: tuple[tuple[str, ...], ...]
    stores: frozenset[str]
    imports: tuple[tuple[str, int, tuple[str, ...]], ...]
    strings: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    changes: frozenset[tuple[str, ...]] = frozenset()
    cell_stores: frozenset[str] = frozenset()


# Keyed by id with the code object held, so an id is never reused while cached.
_cache: dict[int, tuple[types.CodeType, CodeInfo]] = {}


def code_info(code: types.CodeType) -> CodeInfo:
    """The `CodeInfo` of ``code``, computed once per code object."""
    found = _cache.get(id(code))
    if found is not None and found[0] is code:
        return found[1]
    info = _scan(code)
    _cache[id(code)] = (code, info)
    return info


def _scan(code: types.CodeType) -> CodeInfo:  # noqa: PLR0915 - one pass, one frame, for speed
    out = bytearray()
    names = code.co_names
    consts = code.co_consts
    chains: dict[tuple[str, ...], None] = {}
    stores: set[str] = set()
    imports: list[tuple[str, int, list[str]]] = []
    nested: list[CodeInfo] = []
    strings: dict[str, None] = {}
    attributes: dict[str, None] = {}
    chain: list[str] | None = None
    changes: set[tuple[str, ...]] = set()
    cell_stores: set[str] = set()
    # Chains just loaded, until the expression that might change them in place ends.
    pending: list[tuple[str, ...]] = []
    recent: list[object] = []
    raw = code.co_code
    ext = 0
    for i in range(0, len(raw), 2):
        op = raw[i]
        arg = raw[i + 1] | ext
        if op == _EXTENDED_ARG:
            ext = arg << 8
            continue
        ext = 0
        if op == _CACHE:
            continue
        out.append(op)
        if op in _HASCONST:
            const = consts[arg]
            if isinstance(const, types.CodeType):
                sub = code_info(const)
                nested.append(sub)
                out += sub.digest
            else:
                out += const_digest(const)
                if type(const) is str:
                    strings[const] = None
                elif type(const) in (tuple, frozenset):
                    _strings_in(const, strings)
            recent = [*recent[-1:], const]
            continue
        out += arg.to_bytes(4, "little")
        if op in (_LOAD_GLOBAL, _LOAD_NAME):
            if chain is not None:
                chains[tuple(chain)] = None
                pending.append(tuple(chain))
            chain = [names[arg >> _GLOBAL_SHIFT if op == _LOAD_GLOBAL else arg]]
            continue
        if op == _LOAD_DEREF:
            pending.append(("<cell>", _cell_name(code, arg)))  # a closure's value
        if op in (_LOAD_ATTR, _LOAD_METHOD):
            attribute = names[arg >> _ATTR_SHIFT if op == _LOAD_ATTR else arg]
            attributes[attribute] = None
            if chain is not None:
                if attribute in _MUTATORS:
                    changes.add(tuple(chain))  # RUNS.append: RUNS changes
                chain.append(attribute)
                continue
            if attribute in _MUTATORS and pending:
                changes.update(pending)  # RUNS[k].append: RUNS changes
        if chain is not None:
            chains[tuple(chain)] = None
            pending.append(tuple(chain))
            chain = None
        if op in _CHANGE_IN_PLACE:
            changes.update(pending)  # CACHE[k] = v, del CACHE[k], STATE.n = 1
            pending = []
        elif op not in _WITHIN_EXPRESSION:
            pending = []
        if op in (_STORE_GLOBAL, _DELETE_GLOBAL):
            stores.add(names[arg])
        elif op in _STORE_CELL:
            cell = _cell_name(code, arg)
            if cell in code.co_freevars:
                cell_stores.add(cell)
        elif op == _IMPORT_NAME:
            level = recent[0] if len(recent) == 2 and isinstance(recent[0], int) else 0
            imports.append((names[arg], level, []))
        elif op == _IMPORT_FROM and imports:
            imports[-1][2].append(names[arg])
        recent = []
    if chain is not None:
        chains[tuple(chain)] = None
    header = "\x00".join(
        [
            code.co_name,
            ",".join(names),
            ",".join(code.co_varnames),
            ",".join(code.co_freevars),
            ",".join(code.co_cellvars),
            f"{code.co_argcount},{code.co_posonlyargcount},{code.co_kwonlyargcount},"
            f"{code.co_flags},{code.co_nlocals}",
        ]
    ).encode()
    hasher = xxhash.xxh3_128()
    hasher.update(len(header).to_bytes(4, "little"))
    hasher.update(header)
    hasher.update(getattr(code, "co_exceptiontable", b""))
    hasher.update(bytes(out))
    for sub in nested:
        for sub_chain in sub.chains:
            chains.setdefault(sub_chain, None)
        stores |= sub.stores
        changes |= sub.changes
        cell_stores |= sub.cell_stores
    found = [(name, level, tuple(attrs)) for name, level, attrs in imports]
    for sub in nested:
        found.extend(sub.imports)
        for text in sub.strings:
            strings.setdefault(text, None)
        for attribute in sub.attributes:
            attributes.setdefault(attribute, None)
    return CodeInfo(
        hasher.digest(),
        tuple(chains),
        frozenset(stores),
        tuple(found),
        tuple(strings),
        tuple(attributes),
        frozenset(changes),
        frozenset(cell_stores),
    )


def _cell_name(code: types.CodeType, arg: int) -> str:
    """The name of the cell or free variable a LOAD_DEREF reads."""
    by_oparg = getattr(code, "_varname_from_oparg", None)  # 3.11+: an index into all locals
    if by_oparg is not None:
        return str(by_oparg(arg))
    cells = code.co_cellvars + code.co_freevars
    return cells[arg] if arg < len(cells) else ""


def _strings_in(const: tuple[object, ...] | frozenset[object], found: dict[str, None]) -> None:
    """The strings in a tuple or frozenset constant (``for name in ("a", "b")``)."""
    items = sorted(const, key=repr) if type(const) is frozenset else const
    for item in items:
        if type(item) is str:
            found.setdefault(item, None)
        elif type(item) in (tuple, frozenset):
            _strings_in(item, found)  # type: ignore[arg-type]


_FAST_TAGS: dict[type, bytes] = {
    int: b"i",
    bool: b"b",
    str: b"s",
    bytes: b"y",
    type(None): b"n",
    float: b"f",
    complex: b"c",
    type(Ellipsis): b"e",
}


def const_digest(const: object) -> bytes:
    """16-byte digest of a code constant (int, str, tuple, frozenset, ...), by type and value."""
    hasher = xxhash.xxh3_128()
    _feed_const(hasher, const)
    return hasher.digest()


def _feed_const(hasher: xxhash.xxh3_128, const: object) -> None:
    kind = type(const)
    tag = _FAST_TAGS.get(kind)
    if tag is None:
        if kind is tuple:
            hasher.update(b"t%d:" % len(const))  # type: ignore[arg-type]
            for item in const:  # type: ignore[attr-defined]
                _feed_const(hasher, item)
        elif kind is frozenset:
            digests = sorted(const_digest(item) for item in const)  # type: ignore[attr-defined]
            hasher.update(b"F%d:" % len(digests) + b"".join(digests))
        elif isinstance(const, types.CodeType):
            hasher.update(b"C" + code_info(const).digest)
        else:  # a constant folded from something else: its type and repr
            text = f"{kind.__module__}.{kind.__qualname__}:{const!r}".encode()
            hasher.update(b"o%d:" % len(text) + text)
        return
    if kind is float:
        payload = struct.pack("<d", const)
    elif kind is complex:
        payload = struct.pack("<dd", const.real, const.imag)  # type: ignore[attr-defined]
    elif kind is str:
        payload = const.encode("utf-8", "surrogatepass")  # type: ignore[attr-defined]
    elif kind is bytes:
        payload = const  # type: ignore[assignment]
    elif kind is int or kind is bool:
        payload = str(const).encode()
    else:
        payload = b""
    hasher.update(tag + len(payload).to_bytes(8, "little") + payload)
