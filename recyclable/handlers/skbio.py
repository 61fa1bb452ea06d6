"""scikit-bio: sequences, alignments and trees, without their caches or back-pointers.

* A sequence (``DNA``, ``RNA``, ``Protein``, ``Sequence``) is keyed by its
  type, its bytes and its metadata.  Positional and interval metadata are
  created lazily when a step reads them, so an empty one and a missing one
  are the same.  Intervals hold a pointer back to their ``IntervalMetadata``
  (a cycle that made plain recursion fail); here each interval is keyed by its
  bounds, fuzziness and metadata, in order, and the interval tree (a cache) is
  left out.
* A ``TabularMSA`` is keyed by its sequences, index and metadata (its
  ``loc``/``iloc`` indexers point back to it and are left out).
* A ``TreeNode`` is keyed by its whole tree as a flat pre-order list of nodes
  (name, length, support, number of children, other attributes), so no
  recursion depth limit applies and parent links, derivable from the
  children, are not followed.  A node inside a larger tree is keyed by that
  tree and its position in it: a step can walk up through ``parent``.  What
  scikit-bio fills on read is left out: private attributes (``_tip_cache``,
  the ``_write_method`` ``str()`` attaches, ...), attributes registered by
  ``cache_attr``, and node ids (``to_array()`` and ``find_by_id()`` assign
  them on first use; scikit-bio's ``copy()`` drops them).
* Public attributes a subclass or user code sets on a sequence or an
  alignment are keyed.
"""

from __future__ import annotations

from typing import Any

import skbio

from recyclable.handlers._base import Reducer, standin, type_name


def handler_for(cls: type) -> Reducer | None:
    """The reducer for scikit-bio types this module covers."""
    if issubclass(cls, skbio.Sequence):
        return standin("skbio.Sequence", sequence_standin)
    if issubclass(cls, skbio.TabularMSA):
        return standin("skbio.TabularMSA", msa_standin)
    if issubclass(cls, skbio.TreeNode):
        return standin("skbio.TreeNode", tree_standin)
    if issubclass(cls, skbio.metadata.IntervalMetadata):
        return standin("skbio.IntervalMetadata", interval_metadata_standin)
    if issubclass(cls, skbio.metadata.Interval):
        return standin("skbio.Interval", interval_standin)
    return None


def sequence_standin(seq: skbio.Sequence) -> Any:
    """Bytes, metadata, positional metadata and intervals (empty and missing alike)."""
    metadata = dict(seq.metadata) if seq.has_metadata() else {}
    positional = seq.positional_metadata if seq.has_positional_metadata() else None
    intervals = (
        interval_metadata_standin(seq.interval_metadata) if seq.has_interval_metadata() else None
    )
    return (seq._bytes, metadata, positional, intervals, public_attributes(seq))


def public_attributes(obj: Any) -> Any:
    """The public instance attributes a subclass (or a user) added, in order.

    scikit-bio keeps its own state under ``_`` names, read above through its
    accessors; anything public in ``__dict__`` was set by user code and a
    step can read it.
    """
    return [(key, value) for key, value in vars(obj).items() if not key.startswith("_")]


def interval_metadata_standin(im: Any) -> Any:
    """Upper bound and each interval in order (not the interval tree, a cache)."""
    return (im.upper_bound, [interval_standin(iv) for iv in im._intervals])


def interval_standin(iv: Any) -> Any:
    """Bounds, fuzziness and metadata of one interval, without its back-pointer."""
    return (list(iv.bounds), list(iv.fuzzy), dict(iv.metadata))


def msa_standin(msa: skbio.TabularMSA) -> Any:
    """Sequences, index, metadata and positional metadata."""
    metadata = dict(msa.metadata) if msa.has_metadata() else {}
    positional = msa.positional_metadata if msa.has_positional_metadata() else None
    return (list(msa), msa.index, metadata, positional, public_attributes(msa))


# Node attributes that are structure (followed separately), or node ids:
# assign_ids() numbers the nodes of whichever subtree it is called on, and
# to_array(), find_by_id() and index_tree() call it on first use, so ids are a
# cache of a walk (scikit-bio's own copy() drops them too).
_TREE_SKIP = frozenset({"parent", "children", "id"})


def tree_standin(node: skbio.TreeNode) -> Any:
    """The whole tree as a flat pre-order list, and this node's position in it."""
    root = node
    while root.parent is not None:
        root = root.parent
    # Caches scikit-bio fills on read: names registered by cache_attr (tip
    # name lists, ...), and every private attribute (_tip_cache, the
    # _write_method that str() attaches, the _subset that subsets() leaves
    # behind on each node).
    skip = _TREE_SKIP | set(getattr(root, "_registered_caches", ()))
    nodes: list[Any] = []
    position = -1
    stack = [root]
    while stack:
        current = stack.pop()
        if current is node:
            position = len(nodes)
        attributes = [
            (key, value)
            for key, value in current.__dict__.items()
            if key not in skip and not key.startswith("_")
        ]
        nodes.append((type_name(type(current)), len(current.children), attributes))
        stack.extend(reversed(current.children))
    return (nodes, position)
