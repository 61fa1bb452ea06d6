"""Library handlers load lazily, never import a library, and plugins ship through entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recyclable import fingerprint


def _python(code: str, *, path: list[str] | None = None) -> dict[str, object]:
    env = dict(os.environ)
    if path:
        env["PYTHONPATH"] = os.pathsep.join([*path, *sys.path])
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_no_library_is_imported_to_fingerprint() -> None:
    """Fingerprinting values of a program without pandas/torch/... imports none of them."""
    result = _python(
        """
        import json, sys
        import numpy as np
        from recyclable import fingerprint
        fingerprint({"a": np.arange(3), "b": [1.5, "x"], "c": np.array(["s"], dtype=object)})
        watched = ["pandas", "pyarrow", "polars", "xarray", "scipy", "torch", "skbio", "anndata",
                   "numpy.ma", "recyclable.handlers.pandas", "recyclable.handlers.torch"]
        print(json.dumps({"imported": [m for m in watched if m in sys.modules]}))
        """
    )
    assert result == {"imported": []}


def _plugin(site: Path) -> None:
    (site / "gridlib").mkdir(parents=True)
    (site / "gridlib" / "__init__.py").write_text(
        textwrap.dedent(
            """
            import threading

            class Grid:
                def __init__(self, values, crs="EPSG:4326"):
                    self.values, self.crs = list(values), crs
                    self.lock = threading.Lock()  # plain pickling would refuse it
            """
        )
    )
    (site / "gridlib_recyclable.py").write_text(
        textwrap.dedent(
            """
            import recyclable, gridlib

            def register():
                recyclable.register_fingerprint(gridlib.Grid, lambda g: (g.values, g.crs))
            """
        )
    )
    dist = site / "gridlib-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gridlib\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[recyclable.fingerprints]\ngridlib = gridlib_recyclable:register\n"
    )


def test_entry_point_handler_is_registered_once_its_library_is_imported(tmp_path: Path) -> None:
    """A `recyclable.fingerprints` entry point is loaded only after its module is imported."""
    site = tmp_path / "site"
    _plugin(site)
    result = _python(
        """
        import json, sys
        from recyclable import fingerprint
        fingerprint([1, 2, 3])
        before = "gridlib_recyclable" in sys.modules
        import gridlib
        a, b, c = gridlib.Grid([1, 2]), gridlib.Grid([1, 2]), gridlib.Grid([1, 2], crs="EPSG:3857")
        print(json.dumps({
            "loaded_before_import": before,
            "equal": fingerprint(a) == fingerprint(b),
            "different": fingerprint(a) != fingerprint(c),
        }))
        """,
        path=[str(site)],
    )
    assert result == {"loaded_before_import": False, "equal": True, "different": True}


def test_registered_function_takes_precedence_over_a_library_handler() -> None:
    """register_fingerprint on a library type replaces the shipped handler for it."""
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    from recyclable import register_fingerprint
    from recyclable.fingerprint import _registry

    class Frame(pd.DataFrame):
        pass

    try:
        register_fingerprint(Frame, lambda frame: "all frames alike")
        assert fingerprint(Frame({"a": [1]})) == fingerprint(Frame({"a": [2]}))
    finally:
        _registry.pop(Frame, None)
    from recyclable.fingerprint import _handler_cache

    _handler_cache.clear()
    assert fingerprint(Frame({"a": [1]})) != fingerprint(Frame({"a": [2]}))
