"""docs/architecture.md's import diagram is the one the source's imports give today."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "import_graph.py"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["import_graph"] = module
    spec.loader.exec_module(module)
    return module


def test_committed_diagram_is_up_to_date() -> None:
    """tools/import_graph.py --check passes: the committed block matches the imports."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_module_level_imports_form_no_cycle() -> None:
    """The architecture promises layers at module level: no cycle of module-level imports."""
    tool = _tool()
    edges = tool.collect()
    assert tool.cycles(edges, {"eager"}) == []
    # The graph is really read from the source: edges the docs name are found, by kind.
    assert edges["collect"]["runs"] == "eager"
    assert edges["poolwrite"]["lease"] == "eager"
    assert edges["handle"]["cache"] == "lazy"
    assert edges["_context"]["pool"] == "types"


def test_check_fails_on_a_stale_diagram(tmp_path: Path) -> None:
    """--check exits 1 on a document whose block misses an edge; a rewrite makes it pass."""
    tool = _tool()
    fresh = tool.render(tool.collect())
    # Drop the last module named on the first line that lists several.
    line = next(line for line in fresh.splitlines() if "→" in line and ", " in line)
    stale = fresh.replace(line, line.rsplit(", ", 1)[0], 1)
    assert stale != fresh
    doc = tmp_path / "architecture.md"
    doc.write_text(f"# Architecture\n\n{stale}\n\nmore text\n")
    tool.DOC = doc
    assert tool.main(["--check"]) == 1
    assert tool.main([]) == 0
    assert tool.main(["--check"]) == 0
    assert doc.read_text() == f"# Architecture\n\n{fresh}\n\nmore text\n"
