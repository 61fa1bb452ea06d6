"""Draw recyclable's internal import graph from the source, into docs/architecture.md.

``python tools/import_graph.py`` rewrites the block between the
``<!-- imports:begin -->`` and ``<!-- imports:end -->`` markers of
docs/architecture.md; ``--check`` exits 1 (printing the fresh block) when the
committed block differs from what the imports say now.

Three kinds of edge are told apart, because they constrain different things:
an import at module level runs when the importer is imported; one inside a
function (``lazy``) runs only when that function is called, so it cannot make
an import cycle fail; one under ``if TYPE_CHECKING:`` (``types``) never runs.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "recyclable"
DOC = REPO / "docs" / "architecture.md"
BEGIN = "<!-- imports:begin -->"
END = "<!-- imports:end -->"

Edges = dict[str, dict[str, str]]  # importer → {imported: "eager" | "lazy" | "types"}


def module_name(path: Path) -> str:
    """``store/local.py`` → ``store.local``; the package's ``__init__.py`` → ``recyclable``."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or "recyclable"


def _targets(node: ast.Import | ast.ImportFrom, importer: str, known: set[str]) -> list[str]:
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = importer.split(".")
            if not importer_is_package(importer):
                package = package[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join(["recyclable", *package, *([base] if base else [])])
        submodules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}"[11:] in known]
        # ``from recyclable.cli import params`` depends on cli.params, not on cli's __init__.
        names = submodules if submodules else [base]
    found = []
    for name in names:
        if not name.startswith("recyclable."):
            continue
        short = name[len("recyclable.") :]
        # ``from recyclable.cli import params`` names the module cli.params.
        while short and short not in known:
            short = short.rpartition(".")[0]
        if short and short != importer:
            found.append(short)
    if isinstance(node, ast.ImportFrom) and node.module == "recyclable" and not node.level:
        for alias in node.names:
            if alias.name in known:
                found.append(alias.name)
            else:
                found.append("recyclable")
    return found


_PACKAGES: set[str] = set()


def importer_is_package(name: str) -> bool:
    """True for a package (its ``__init__``)."""
    return name in _PACKAGES


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def collect() -> Edges:
    """Every internal import of the package, by kind."""
    files = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(f) for f in files}
    _PACKAGES.update(module_name(f) for f in files if f.name == "__init__.py")
    edges: Edges = {name: {} for name in known}
    rank = {"eager": 0, "lazy": 1, "types": 2}

    for path in files:
        importer = module_name(path)
        tree = ast.parse(path.read_text(), str(path))

        def visit(node: ast.AST, kind: str, importer: str = importer) -> None:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _targets(node, importer, known):
                    old = edges[importer].get(target)
                    if old is None or rank[kind] < rank[old]:
                        edges[importer][target] = kind
                return
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                for child in node.body:
                    visit(child, "types")
                for child in node.orelse:
                    visit(child, kind)
                return
            inner = kind
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                inner = "types" if kind == "types" else "lazy"
            for child in ast.iter_child_nodes(node):
                visit(child, inner)

        visit(tree, "eager")
    return edges


def cycles(edges: Edges, kinds: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), over edges of ``kinds``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strong(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on.add(node)
        for target, kind in sorted(edges[node].items()):
            if kind not in kinds:
                continue
            if target not in index:
                strong(target)
                low[node] = min(low[node], low[target])
            elif target in on:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(edges):
        if node not in index:
            strong(node)
    return sorted(found)


def layers(edges: Edges) -> dict[str, int]:
    """Each module's height over module-level imports: 0 imports nothing of the package."""
    height: dict[str, int] = {}

    def of(node: str, seen: tuple[str, ...] = ()) -> int:
        if node in height:
            return height[node]
        below = [t for t, k in edges[node].items() if k == "eager" and t not in seen]
        value = 1 + max((of(t, (*seen, node)) for t in below), default=-1)
        height[node] = value
        return value

    for node in edges:
        of(node)
    return height


def render(edges: Edges) -> str:
    """The block written into docs/architecture.md."""
    height = layers(edges)
    lines = [
        BEGIN,
        "<!-- generated by tools/import_graph.py from the imports; do not edit by hand -->",
        "",
        "Who imports whom inside the package, bottom layer first. A module's layer is one",
        "more than the highest layer it imports at module level. `a → b` is a module-level",
        "import; `b (lazy)` is imported inside a function, when that function first runs;",
        "`b (types)` only for type checking.",
        "",
        "```",
    ]
    width = max(len(name) for name in edges)
    for level in range(max(height.values()) + 1):
        lines.append(f"layer {level}")
        for name in sorted(n for n in edges if height[n] == level):
            parts = []
            for target, kind in sorted(edges[name].items()):
                parts.append(target if kind == "eager" else f"{target} ({kind})")
            arrow = " → " + ", ".join(parts) if parts else ""
            lines.append(f"  {name.ljust(width)}{arrow}".rstrip())
    lines.append("```")
    lines.append("")
    run_time = cycles(edges, {"eager", "lazy"})
    if run_time:
        lines.append("Cycles once lazy imports are counted (each resolved at call time):")
        lines.append("")
        lines.extend(f"- {' ↔ '.join(component)}" for component in run_time)
    else:
        lines.append("No cycles, lazy imports included.")
    eager = cycles(edges, {"eager"})
    lines.append("")
    lines.append(
        "Module-level imports alone form no cycle."
        if not eager
        else "Module-level cycles: " + "; ".join(" ↔ ".join(c) for c in eager) + "."
    )
    lines.append(END)
    return "\n".join(lines)


def current_block(text: str) -> str | None:
    """The block committed in ``text``, or None when the markers are missing."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < 0:
        return None
    return text[start : end + len(END)]


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with --check, compare) the generated block; the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed block is stale")
    options = parser.parse_args(argv)
    fresh = render(collect())
    text = DOC.read_text()
    block = current_block(text)
    if options.check:
        if block == fresh:
            return 0
        print(f"{DOC} is out of date; run python tools/import_graph.py. It should read:\n")
        print(fresh)
        return 1
    if block is None:
        raise SystemExit(f"{DOC} has no {BEGIN} … {END} block to fill in")
    DOC.write_text(text.replace(block, fresh))
    return 0


if __name__ == "__main__":
    sys.exit(main())
