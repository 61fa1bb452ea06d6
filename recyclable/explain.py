"""Why a call would miss: compare it with the closest stored call.

`explain_call` is the library function behind ``recyclable cache explain``;
`explain_in_pool` and `explain_key_in_pool` are behind `Pool.explain` and
`Pool.explain_key`.  All of them only read the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recyclable.cachedir import validate_pool_name
from recyclable.callkey import ActionSpec, CallKey
from recyclable.codechange import describe_code_change
from recyclable.fingerprint import SCHEMA_VERSION
from recyclable.manifest import Manifest, ManifestError, load_manifest, read_stored
from recyclable.sharing import describe_shared

if TYPE_CHECKING:
    from recyclable.cache import Cache
    from recyclable.pool import Pool

__all__ = ["Explanation", "check_entry", "explain_call", "explain_in_pool", "explain_key_in_pool"]

# How many stored calls `explain_call` compares with, at most.
_EXPLAIN_LIMIT = 5000


@dataclass(frozen=True)
class Explanation:
    """Whether a call would be loaded, and if not, why.

    Attributes:
        hit: a stored, complete entry exists for the call.
        key: the call's key.
        action: the action.
        reason: one sentence: what is stored, or what differs from the closest stored call.

    """

    hit: bool
    key: str
    action: str
    reason: str


def explain_call(cache: Cache, callkey: CallKey, pool: str | None = None) -> Explanation:
    """Say whether ``callkey`` would be loaded from ``cache``, and if not, why.

    Lookups are by key across the whole cache, so a hit does not depend on the
    pool; a miss is explained against the closest stored call of the same
    action, in ``pool`` first and then anywhere in the cache.

    Args:
        cache: the cache.
        callkey: the call (``func.__recyclable__.key_for(bound_arguments)``).
        pool: the pool the call would run in, to look for similar calls first.

    """
    store = cache.local_store
    data = store.read_manifest(callkey.key)
    if data is not None:
        problem = check_entry(store, callkey.key, data)
        if problem is None:
            manifest = load_manifest(data)
            return Explanation(
                True,
                callkey.key,
                callkey.action,
                f"stored {manifest.get('created', '')} (computed in "
                f"{float(manifest.get('compute_seconds', 0.0)):.3f} s): it would be loaded",
            )
        return Explanation(
            False,
            callkey.key,
            callkey.action,
            f"an entry exists but is damaged ({problem}): it would be recomputed",
        )
    candidates: list[str] = []
    if pool is not None and store.pool_exists(validate_pool_name(pool)):
        candidates.extend(store.iter_markers(pool))
    seen = set(candidates)
    candidates.extend(k for k in store.iter_manifest_keys() if k not in seen)
    best: list[str] | None = None
    for key in candidates[:_EXPLAIN_LIMIT]:
        stored = read_stored(store, key)
        if stored is None:
            continue
        if stored.get("plugin") != callkey.plugin or stored.get("action") != callkey.action:
            continue
        reasons = _differences(callkey, stored)
        if best is None or len(reasons) < len(best):
            best = reasons
    if best is None:
        reason = f"new call: no stored call of {callkey.action} in cache {cache.path}"
    else:
        reason = "closest stored call differs: " + ("; ".join(best) or "in no component")
    return Explanation(False, callkey.key, callkey.action, reason)


def check_entry(store: Any, key: str, data: bytes) -> str | None:
    """Why an entry would not load, or None when it looks sound.

    Checks the manifest (checksum, fields) and that every blob exists with
    its recorded size, without reading the blobs: a quick answer for
    ``explain``.  `Cache.verify` hashes everything.
    """
    try:
        manifest = load_manifest(data)
    except ManifestError as exc:
        return f"manifest: {exc}"
    if manifest.get("key") != key:
        return "manifest is filed under another key"
    try:
        stream = manifest["stream"]
        parts = [] if "inline" in stream else [stream]
        parts.extend(manifest["buffers"])
        blobs = [(str(part["digest"]), int(part["size"])) for part in parts]
    except (KeyError, TypeError, ValueError) as exc:
        return f"manifest lacks a field ({exc})"
    for digest, size in blobs:
        actual = store.blob_size(digest)
        if actual is None:
            return f"data {digest} missing"
        if actual != size:
            return f"data {digest} has {actual} bytes, expected {size}"
    return None


def explain_in_pool(pool: Pool, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> str:
    """`Pool.explain` (documented there), for the calls of ``pool``."""
    spec = getattr(func, "__recyclable__", None)
    if not isinstance(spec, ActionSpec):
        raise TypeError(
            f"pool.explain(func=...) expects a @recyclable function, got "
            f"{type(func).__name__} {func!r}; decorate it with @recyclable first"
        )
    implicit = getattr(func, "_self_recyclable_implicit", None)
    if implicit:  # a decorated partial or callable instance adds arguments itself
        args, kwargs = (*implicit[0], *args), {**implicit[1], **kwargs}
    instance = getattr(func, "__self__", None)
    call_args = (instance, *args) if instance is not None else args
    bound = spec.bind(call_args, kwargs)
    if bound is None:
        raise TypeError(f"pool.explain: the arguments do not fit {spec.action}{spec.signature}")
    return explain_key_in_pool(pool, spec.key_for(bound), unkeyed=spec.unkeyed)


def explain_key_in_pool(
    pool: Pool,
    callkey: CallKey,
    *,
    limit: int | None = None,
    unkeyed: Sequence[tuple[str, str]] = (),
) -> str:
    """`Pool.explain_key`: why ``callkey`` misses, against stored calls of the same action.

    ``unkeyed`` gives the (part, reason) of what the step reaches but its
    key leaves out (`ActionSpec.unkeyed`), so the answer can name them.
    """
    if pool._store.read_manifest(callkey.key) is not None:
        if unkeyed:
            return (
                "stored: the call would be loaded; the step also reads what its key "
                f"leaves out: {_unkeyed_text(callkey, unkeyed)}"
            )
        return "stored: the call would be loaded"
    best: tuple[int, list[str]] | None = None
    for seen, key in enumerate(pool.keys()):
        if limit is not None and seen >= limit:
            break
        manifest = read_stored(pool._store, key)
        if manifest is None:
            continue
        if manifest.get("plugin") != callkey.plugin or manifest.get("action") != callkey.action:
            continue
        reasons = _differences(callkey, manifest, unkeyed)
        if best is None or len(reasons) < best[0]:
            best = (len(reasons), reasons)
    if best is None:
        return f"new call: no stored call of {callkey.action} in pool {pool.name}"
    return "; ".join(best[1]) or _same_arguments(callkey)


def _same_arguments(callkey: CallKey) -> str:
    """Why a call whose arguments equal a stored call's misses: what they share differs."""
    if callkey.shared:
        return (
            "the arguments equal a stored call's, but here "
            f"{describe_shared(callkey.shared)}: which objects the arguments share is part "
            "of the key"
        )
    return (
        "an entry of the same components was not found (which objects the arguments "
        "share is part of the key too)"
    )


def _unkeyed_text(callkey: CallKey, unkeyed: Sequence[tuple[str, str]]) -> str:
    """The parts left out of the key, each with its reason when known."""
    reasons = dict(unkeyed)
    names = [n for n in callkey.code_parts if n.startswith("unkeyed ")] or list(reasons)
    return ", ".join(
        f"{name.partition(' ')[2]} ({reasons[name]})" if name in reasons else name.partition(" ")[2]
        for name in names
    )


def _differences(
    callkey: CallKey, manifest: Manifest, unkeyed: Sequence[tuple[str, str]] = ()
) -> list[str]:
    if manifest.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
        return [f"library format changed (key schema {manifest.get('schema')} → {SCHEMA_VERSION})"]
    reasons = []
    if manifest.get("code") != callkey.code:
        reasons.append(_code_change(callkey, manifest))
    stored = dict(manifest.get("arguments", []))
    stored_unordered = dict(manifest.get("arguments_unordered", []))
    current = dict(callkey.arguments)
    for name, digest in current.items():
        if name not in stored:
            reasons.append(f"argument {name!r} is new")
        elif stored[name] != digest:
            was = stored_unordered.get(name, stored[name])
            if name in callkey.bound and callkey.unordered_hex(name) == was:
                reasons.append(
                    f"argument {name!r} holds the same items in another order "
                    "(dict order is part of the key)"
                )
            else:
                reasons.append(f"argument {name!r} changed")
    for name in stored:
        if name not in current:
            reasons.append(f"argument {name!r} was removed")
    if reasons and (unkeyed or any(n.startswith("unkeyed ") for n in callkey.code_parts)):
        reasons.append(f"left out of the key: {_unkeyed_text(callkey, unkeyed)}")
    return reasons


def _code_change(callkey: CallKey, manifest: Manifest) -> str:
    old, new = manifest.get("code", ""), callkey.code
    if old.startswith("version:") or new.startswith("version:"):
        return f"version of {callkey.action} changed ({_version(old)} → {_version(new)})"
    return describe_code_change(
        callkey.action, dict(manifest.get("code_parts") or []), callkey.code_parts
    )


def _version(code: str) -> str:
    return code.removeprefix("version:") if code.startswith("version:") else "code fingerprint"
