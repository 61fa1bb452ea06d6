"""Code keys are the same in every process, whatever PYTHONHASHSEED."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from strategies import user_modules

REPO = Path(__file__).resolve().parents[2]

PRINT_KEY = """
import json, sys
sys.path.insert(0, sys.argv[1])
import recyclable
from generated import step
spec = step.__recyclable__
print(json.dumps({"key": spec.key_for(spec.bind((1,), {})).key,
                  "parts": recyclable.code_parts(step)}))
"""


def _key_in_child(directory: Path, seed: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", PRINT_KEY, str(directory)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(source=user_modules())
def test_code_key_is_stable_across_processes_and_hash_seeds(
    tmp_path_factory: object, source: str
) -> None:
    """Two fresh processes with different hash seeds give one key and the same code parts."""
    directory = Path(tmp_path_factory.mktemp("generated"))  # type: ignore[attr-defined]
    (directory / "generated.py").write_text(source)
    first = _key_in_child(directory, "1")
    second = _key_in_child(directory, "4242")
    assert first == second
    assert any(str(name).startswith("constant generated.C_") for name in first["parts"])  # type: ignore[attr-defined]
