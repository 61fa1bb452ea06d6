"""scikit-bio sequences, alignments and trees: keyed without caches, cycles or recursion limits."""

from __future__ import annotations

import pytest

skbio = pytest.importorskip("skbio", reason="scikit-bio is not installed")

from recyclable import FingerprintError, fingerprint  # noqa: E402
from recyclable.testing import check_fingerprint_contract  # noqa: E402


def _tree(length: str = "4") -> object:
    return skbio.TreeNode.read([f"((a:1,b:2)c:3,d:{length})root;"])


def _msa() -> object:
    return skbio.TabularMSA(
        [skbio.DNA("ACGT", metadata={"id": "s1"}), skbio.DNA("AGGT", metadata={"id": "s2"})],
        index=["s1", "s2"],
    )


class ReadSequence(skbio.DNA):
    """A user's sequence type with an attribute of its own (a step can read it)."""

    quality_offset = 33


def _read_sequence(text: str, offset: int = 33) -> object:
    seq = ReadSequence(text)
    seq.quality_offset = offset
    return seq


def _tree_read() -> object:
    """A tree after reads that make scikit-bio fill its caches and node ids."""
    tree = _tree()
    tree.to_array()  # assigns node ids
    tree.find_by_id(1)
    tree.cache_attr(lambda node: [node.name], "names")  # registered cache on every node
    tree.subsets()  # leaves _subset behind on the nodes
    return tree


def equal_pairs() -> list[tuple[object, object]]:
    return [
        (_tree_read(), _tree()),
        (_read_sequence("ACGT"), _read_sequence("ACGT")),
        (skbio.DNA("ACGT" * 20_000), skbio.DNA("ACGT" * 20_000)),
        (skbio.DNA("ACGT", metadata={}), skbio.DNA("ACGT")),
        (skbio.Protein("MKV", metadata={"id": "p"}), skbio.Protein("MKV", metadata={"id": "p"})),
        (_tree(), _tree()),
        (_msa(), _msa()),
    ]


def different_pairs() -> list[tuple[object, object]]:
    return [
        (skbio.DNA("ACGT"), skbio.DNA("ACGA")),
        (skbio.DNA("ACGT"), skbio.RNA("ACGU")),
        (skbio.DNA("ACGT"), skbio.Sequence("ACGT")),
        (skbio.DNA("ACGT", metadata={"id": "a"}), skbio.DNA("ACGT", metadata={"id": "b"})),
        (skbio.DNA("AC", positional_metadata={"q": [1, 2]}), skbio.DNA("AC")),
        (_tree(), _tree("5")),
        (_tree().find("a"), _tree().find("b")),
        (_tree().find("a"), skbio.TreeNode.read(["a:1;"])),  # a step can walk up from a node
        (_msa(), skbio.TabularMSA(list(_msa()), index=["x", "y"])),
        (_read_sequence("ACGT", 33), _read_sequence("ACGT", 64)),
    ]


def _read(value: object) -> None:
    if isinstance(value, skbio.Sequence):
        value.positional_metadata  # noqa: B018 - created on access
        value.interval_metadata  # noqa: B018
        value.metadata  # noqa: B018
    if isinstance(value, skbio.TreeNode):
        value.find("a") if value.parent is None and value.count() > 1 else None
        list(value.tips())
        str(value)  # attaches a _write_method to the root
        value.to_array()


def test_skbio_contract(tmp_path) -> None:
    """Sequences, trees and alignments keep the contract; reads of lazy metadata included."""
    check_fingerprint_contract(equal_pairs, different_pairs, read=_read, tmp_path=tmp_path)


def test_interval_metadata_is_keyed_without_recursion_error() -> None:
    """A sequence with interval metadata (a back-referencing cycle) is keyed by its intervals."""
    seq = skbio.DNA("ACGTACGT")
    plain = fingerprint(seq)
    seq.interval_metadata.add([(0, 4)], metadata={"gene": "g1"})
    with_gene = fingerprint(seq)
    other = skbio.DNA("ACGTACGT")
    other.interval_metadata.add([(0, 4)], metadata={"gene": "g2"})
    assert with_gene != plain
    assert fingerprint(other) != with_gene
    same = skbio.DNA("ACGTACGT")
    same.interval_metadata.add([(0, 4)], metadata={"gene": "g1"})
    assert fingerprint(same) == with_gene


def test_deep_tree_is_keyed_without_recursion() -> None:
    """A caterpillar tree far deeper than the recursion limit is fingerprinted, not refused."""
    text = "(" * 3000 + "a" + "".join(f",t{i})" for i in range(3000)) + ";"
    tree = skbio.TreeNode.read([text])
    try:
        digest = fingerprint(tree)
    except FingerprintError as exc:  # pragma: no cover - the failure this test pins
        pytest.fail(f"deep tree refused: {exc}")
    assert len(digest) == 16
    tree.find("t0").length = 1.0
    assert fingerprint(tree) != digest
