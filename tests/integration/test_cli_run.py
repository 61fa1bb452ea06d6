"""``recyclable run`` in this process: pools, resumption, parameters, output and usage errors."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import Outcome, executions

import recyclable

pytestmark = pytest.mark.usefixtures("plugin_path")

Cli = Callable[..., Outcome]
STEPS = ["load_reads", "denoise", "feature_table", "load_metadata", "diversity"]


def _default_pool(plugin: str, action: str) -> str:
    label = f"{plugin}_{action}"
    return f"recycle_{label}_{hashlib.sha1(label.encode()).hexdigest()}"


def _pools(cache: Path) -> list[str]:
    return sorted(os.listdir(cache / "pools")) if (cache / "pools").exists() else []


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "entries").rglob("*.json"))


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def test_default_pool_is_named_as_qiime2_names_it_and_kept_after_failure(
    cli: Cli, log: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed run leaves recycle_<plugin>_<action>_<sha1> and one line saying how to resume."""
    monkeypatch.setenv("RECYCLABLE_TEST_FAIL_AT", "diversity")
    result = cli("run", "pipes", "analyze", "--n", "300", "--use-cache", str(cache_dir))
    assert result.code == 1
    name = "recycle_pipes_analyze_" + hashlib.sha1(b"pipes_analyze").hexdigest()
    assert _pools(cache_dir) == [name]
    assert "StepFailed: diversity failed on purpose" in result.err
    kept = [line for line in result.err.splitlines() if "re-run the same command" in line]
    assert len(kept) == 1
    assert "4 finished step(s) kept" in kept[0] and name in kept[0]
    assert f"created cache at {cache_dir}" in result.err


def test_resumed_run_skips_finished_steps_and_removes_the_pool(
    cli: Cli, log: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-running the same command loads the finished steps; success removes pool and data."""
    monkeypatch.setenv("RECYCLABLE_TEST_FAIL_AT", "diversity")
    assert cli("run", "pipes", "analyze", "--n", "300", "--use-cache", str(cache_dir)).code == 1
    assert executions(log) == STEPS
    monkeypatch.delenv("RECYCLABLE_TEST_FAIL_AT")
    result = cli("run", "pipes", "analyze", "--n", "300", "--use-cache", str(cache_dir))
    assert result.code == 0, result.err
    assert executions(log) == [*STEPS, "diversity"]
    assert _pools(cache_dir) == []
    assert _entries(cache_dir) == []
    assert "4 step(s) loaded, 1 computed (not counting analyze" in result.err
    assert "removed after success" in result.err
    assert float(result.out) > 0  # the result's repr on stdout


def test_named_pool_survives_success(cli: Cli, log: Path, cache_dir: Path) -> None:
    """--recycle-pool creates the pool (saying so), keeps it after success, and reuses it."""
    first = cli("run", "pipes", "analyze", "--n", "300", "--use-cache", str(cache_dir),
                "--recycle-pool", "mine")  # fmt: skip
    assert first.code == 0, first.err
    assert "pool mine did not exist" in first.err
    assert _pools(cache_dir) == ["mine"]
    assert len(os.listdir(cache_dir / "pools" / "mine")) > 0
    assert len(_entries(cache_dir)) == 6
    second = cli("run", "pipes", "analyze", "--n", "300", "--use-cache", str(cache_dir),
                 "--recycle-pool", "mine")  # fmt: skip
    assert second.code == 0
    assert executions(log) == STEPS  # the second run computed nothing
    assert second.out == first.out
    assert "1 step(s) loaded, 0 computed" in second.err
    assert _pools(cache_dir) == ["mine"]


def test_no_recycle_looks_up_and_stores_nothing(cli: Cli, log: Path, cache_dir: Path) -> None:
    """--no-recycle runs every step each time and creates no cache, pool or entry."""
    for _ in range(2):
        result = cli("run", "pipes", "analyze", "--n", "300", "--use-cache", str(cache_dir),
                     "--no-recycle")  # fmt: skip
        assert result.code == 0
        assert "nothing looked up or stored" in result.err
    assert executions(log) == STEPS * 2
    assert not cache_dir.exists()
    assert not Path(os.environ["RECYCLABLE_CACHE"]).exists()


def test_no_recycle_failure_keeps_nothing(
    cli: Cli, log: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed --no-recycle run says nothing was kept and exits 1."""
    monkeypatch.setenv("RECYCLABLE_TEST_FAIL_AT", "denoise")
    result = cli("run", "pipes", "analyze", "--use-cache", str(cache_dir), "--no-recycle")
    assert result.code == 1
    assert "nothing was kept" in result.err
    assert not cache_dir.exists()


def test_success_with_other_parameters_keeps_a_failed_runs_progress(
    cli: Cli, log: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unlike QIIME 2, a later successful run with other inputs does not drop a failed run's steps.

    Run A (4 samples) fails; run B (5 samples) succeeds in the same default
    pool.  A's steps stay, so re-running A computes only what A had not finished.
    """
    base = ["run", "pipes", "analyze", "--n", "300", "--use-cache", str(cache_dir)]
    monkeypatch.setenv("RECYCLABLE_TEST_FAIL_AT", "diversity")
    assert cli(*base, "--samples", "4").code == 1
    monkeypatch.delenv("RECYCLABLE_TEST_FAIL_AT")
    other = cli(*base, "--samples", "5")
    assert other.code == 0
    assert "still needed by other runs" in other.err
    assert _pools(cache_dir) == [_default_pool("pipes", "analyze")]
    log.write_text("")
    again = cli(*base, "--samples", "4")
    assert again.code == 0, again.err
    assert executions(log) == ["diversity"]
    assert "removed after success" in again.err
    assert _pools(cache_dir) == []


def test_file_target_names_plugin_after_the_file(
    cli: Cli, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """path/to/file.py:function runs the function; the plugin name is the file's stem."""
    script = tmp_path / "scripts" / "my_steps.py"
    script.parent.mkdir()
    script.write_text(
        "from recyclable import recyclable\n\n"
        "@recyclable\n"
        "def double(x: int) -> int:\n"
        "    if x < 0:\n"
        "        raise ValueError('negative')\n"
        "    return 2 * x\n"
    )
    monkeypatch.chdir(tmp_path)
    failed = cli("run", "scripts/my_steps.py:double", "--x", "-1", "--use-cache", str(cache_dir))
    assert failed.code == 1
    assert _pools(cache_dir) == [_default_pool("my_steps", "double")]
    result = cli("run", "scripts/my_steps.py:double", "--x", "21", "--use-cache", str(cache_dir))
    assert result.code == 0
    assert result.out == "42\n"


def test_module_function_target_need_not_be_recyclable(
    cli: Cli, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """module:function runs any function; its recyclable steps are still stored and reused."""
    result = cli("run", "cli_actions:plain", "--n", "10", "--use-cache", str(cache_dir),
                 "--recycle-pool", "p")  # fmt: skip
    assert result.code == 0
    assert result.out == "45\n"
    assert "0 step(s) loaded, 1 computed" in result.err


def test_every_annotation_is_converted(cli: Cli, tmp_path: Path) -> None:
    """int, float, str, bool flags, Path, repeated list items, Enum and Literal choices."""
    out = tmp_path / "typed.json"
    result = cli("run", "typed", "typed", "--count", "3", "--ratio", "0.25", "--label", "hi",
                 "--strict", "--source", "data/a.txt", "--sizes", "1", "--sizes", "2",
                 "--mode", "CAREFUL", "--level", "high", "--output", str(out),
                 "--no-recycle")  # fmt: skip
    assert result.code == 0, result.err
    assert json.loads(out.read_text()) == {
        "count": ["int", "3"],
        "ratio": ["float", "0.25"],
        "label": ["str", "hi"],
        "strict": ["bool", "True"],
        "source": ["PosixPath", "data/a.txt"],
        "sizes": ["list", "[1, 2]"],
        "mode": ["Mode", "Mode.CAREFUL"],
        "level": ["str", "high"],
    }
    defaults = cli("run", "typed", "typed", "--count", "1", "--no-strict", "--no-recycle",
                   "--output", str(out))  # fmt: skip
    assert defaults.code == 0
    assert json.loads(out.read_text())["mode"] == ["Mode", "Mode.FAST"]
    assert json.loads(out.read_text())["strict"] == ["bool", "False"]


def test_help_shows_parameters_types_defaults_and_docstring(cli: Cli) -> None:
    """TARGET --help lists each parameter with its type and default, and the docstring."""
    result = cli("run", "typed", "typed", "--help")
    assert result.code == 0
    text = " ".join(result.out.split())
    assert "Echo every converted parameter with its type name." in text
    assert "--count COUNT int (required)" in text
    assert "--ratio RATIO float (default: 0.5)" in text
    assert "--strict, --no-strict bool (default: False)" in text
    assert "--mode {FAST,CAREFUL} Mode (default: FAST)" in text
    assert "--level {low,high} choice (default: 'low')" in text
    assert "--source SOURCE path (default: in.txt)" in text
    assert "--sizes SIZES list[int], repeat the option (default: None)" in text


def test_run_help_lists_installed_plugins(cli: Cli) -> None:
    """recyclable run --help names the installed plugins."""
    result = cli("run", "--help")
    assert result.code == 0
    assert "installed plugins: broken, pipes, typed" in result.out


def test_plugin_help_lists_its_actions(cli: Cli) -> None:
    """recyclable run PLUGIN --help lists the plugin's recyclable actions with their summaries."""
    result = cli("run", "pipes", "--help")
    assert result.code == 0
    import pipeline_actions

    from recyclable import RecyclableFunction

    actions = [line.split()[0] for line in result.out.splitlines() if line.startswith("  ")]
    assert actions == sorted(
        name for name, obj in vars(pipeline_actions).items() if isinstance(obj, RecyclableFunction)
    )
    assert "analyze" in actions and "denoise" in actions
    assert "Two branches: reads" in result.out


def test_output_formats_fit_the_result_type(cli: Cli, tmp_path: Path) -> None:
    """JSON for JSON-able values, .npy for arrays, the pool's format (recyclable.load) otherwise."""
    as_json, as_npy, as_pool = tmp_path / "r.json", tmp_path / "r.npy", tmp_path / "r.result"
    cli_args = ("--recycle-pool", "out")
    assert cli("run", "pipes", "load_metadata", "--samples", "3", "--output", str(as_json),
               *cli_args).code == 0  # fmt: skip
    assert json.loads(as_json.read_text()) == {"sample": [0, 1, 2], "group": [0, 1, 0]}
    result = cli("run", "typed", "array", "--n", "5", "--output", str(as_npy), *cli_args)
    assert "(numpy .npy)" in result.err
    np.testing.assert_array_equal(np.load(as_npy), np.arange(5))
    assert cli("run", "typed", "mixed", "--n", "4", "--output", str(as_pool), *cli_args).code == 0
    loaded = recyclable.load(as_pool)
    np.testing.assert_array_equal(loaded["array"], np.arange(4, dtype=np.float64))
    assert loaded["pair"] == (4, "n")
    assert recyclable.load(as_json) == {"sample": [0, 1, 2], "group": [0, 1, 0]}
    np.testing.assert_array_equal(recyclable.load(as_npy), np.arange(5))


def test_quiet_and_verbose(cli: Cli, cache_dir: Path) -> None:
    """Default lines name steps; -q drops them; -v adds keys and why a step was computed."""
    base = ("run", "pipes", "load_reads", "--n", "10", "--seed", "1", "--use-cache", str(cache_dir))
    plain = cli(*base, "--no-recycle")
    assert plain.code == 0
    normal = cli(*base, "--recycle-pool", "a")
    assert "recyclable: computing load_reads\n" in normal.err
    assert "key" not in normal.err.split("step(s) loaded")[0]
    quiet = cli(*base, "--recycle-pool", "b", "-q", "--seed", "2")
    assert "computing" not in quiet.err and "stored" not in quiet.err
    assert "0 step(s) loaded, 1 computed" in quiet.err  # the summary stays
    verbose = cli(*base, "--recycle-pool", "c", "-v", "--seed", "3")
    assert "computing load_reads (key " in verbose.err
    assert "closest" in verbose.err or "new call" in verbose.err or "changed" in verbose.err
    assert "keys used: " in verbose.err


def test_short_and_full_tracebacks(
    cli: Cli, log: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure shows the user's frames only; -v shows recyclable's own frames too."""
    monkeypatch.setenv("RECYCLABLE_TEST_FAIL_AT", "denoise")
    short = cli("run", "pipes", "analyze", "--use-cache", str(cache_dir))
    assert short.code == 1
    assert "pipeline_actions.py" in short.err
    assert "recyclable/decorator.py" not in short.err
    full = cli("run", "pipes", "analyze", "--use-cache", str(cache_dir), "-v")
    assert full.code == 1
    assert "recyclable/decorator.py" in full.err


def test_unstorable_result_is_a_warning_line(cli: Cli, cache_dir: Path) -> None:
    """A library warning (here: result not picklable) is shown as one line and the run succeeds."""
    result = cli("run", "cli_actions:unpicklable", "--use-cache", str(cache_dir),
                 "--recycle-pool", "w")  # fmt: skip
    assert result.code == 0
    assert "recyclable: warning: the result of unpicklable cannot be stored" in result.err


# --- usage errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run"], ["missing TARGET", "installed plugins: broken, pipes, typed"]),
        (["run", "nosuch", "x"], ["unknown plugin 'nosuch'", "pipes, typed"]),
        (
            ["run", "pipes"],
            [
                "missing ACTION for plugin 'pipes'",
                "its actions: analyze, big_step",
                "denoise, diversity",
            ],
        ),
        (
            ["run", "pipes", "nosuch"],
            ["no action 'nosuch'", "actions: analyze, big_step"],
        ),
        (["run", "broken", "x"], ["plugin 'broken'", "cannot be loaded"]),
        (["run", "pipes", "analyze", "--bogus", "1"], ["unknown parameter --bogus", "--n, --seed"]),
        (["run", "pipes", "analyze", "--n", "abc"], ["--n", "invalid int value: 'abc'"]),
        (["run", "typed", "typed"], ["--count"]),
        (["run", "typed", "typed", "--count", "1", "--mode", "SLOW"], ["--mode", "SLOW", "FAST"]),
        (["run", "typed", "typed", "--count", "1", "--level", "mid"], ["--level", "'mid'", "low"]),
        (["run", "pipes", "analyze", "--no-recycle", "--recycle-pool", "p"], ["be combined"]),
        (["run", "pipes", "analyze", "--recycle-pool", "../up"], ["--recycle-pool", "invalid"]),
        (["run", "no_such_module_xyz:f"], ["no module named 'no_such_module_xyz'"]),
        (["run", "pipeline_actions:nosuch"], ["no function 'nosuch'", "analyze"]),
        (["run", "missing/steps.py:f"], ["no file 'missing/steps.py'"]),
        (["frobnicate"], ["unknown command 'frobnicate'", "run, cache"]),
        (["cache", "frobnicate"], ["invalid choice: 'frobnicate'"]),
        (["cache", "info", "--use-cache", "/nonexistent/recyclable"], ["no recyclable cache at"]),
        (["cache", "gc", "--max-bytes", "lots"], ["--max-bytes", "lots"]),
        (["cache", "gc", "--older-than", "soon"], ["--older-than", "soon"]),
        (["run", "pipes", "analyze", "--output", "/nonexistent/dir/r.json"], ["--output", "exist"]),
    ],
)
def test_usage_errors_exit_2_and_name_the_problem(
    cli: Cli, args: list[str], expected: list[str]
) -> None:
    """Every usage error exits 2 with one line naming the problem and what is valid."""
    result = cli(*args)
    assert result.code == 2, result
    for text in expected:
        assert text in result.err
    assert len(result.err.strip().splitlines()) == 1, result.err


def test_cache_path_that_is_a_file_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    """--use-cache naming a file exits 2 and names the path; the file is untouched."""
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    result = cli("run", "pipes", "load_reads", "--n", "3", "--seed", "1",
                 "--use-cache", str(target))  # fmt: skip
    assert result.code == 2
    assert str(target) in result.err and "is a file" in result.err
    assert target.read_text() == "keep me"


def test_result_that_cannot_be_saved_exits_1(cli: Cli, tmp_path: Path) -> None:
    """A result --output cannot write (here: not picklable) is a failure that names the file."""
    target = tmp_path / "r.result"
    result = cli("run", "cli_actions:unpicklable", "--output", str(target),
                 "--recycle-pool", "p")  # fmt: skip
    assert result.code == 1
    assert f"could not write the result to {target}" in result.err
    assert "re-run the same command to resume" in result.err
    assert not target.exists()


def test_target_module_that_raises_on_import_exits_1(cli: Cli, tmp_path: Path) -> None:
    """A target file whose import raises is reported with its traceback and exit code 1."""
    script = tmp_path / "bad_steps.py"
    script.write_text("raise RuntimeError('broken at import')\n")
    result = cli("run", f"{script}:main")
    assert result.code == 1
    assert "RuntimeError: broken at import" in result.err
    assert f"importing '{script}' failed" in result.err


def test_disable_variable(cli: Cli, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """RECYCLABLE_DISABLE=1 runs every step and says so; a value it cannot parse exits 2."""
    monkeypatch.setenv("RECYCLABLE_DISABLE", "1")
    for _ in range(2):
        result = cli("run", "pipes", "load_metadata", "--samples", "2", "--recycle-pool", "p")
        assert result.code == 0
        assert "RECYCLABLE_DISABLE is set" in result.err
    assert executions(log) == ["load_metadata", "load_metadata"]
    monkeypatch.setenv("RECYCLABLE_DISABLE", "maybe")
    bad = cli("run", "pipes", "load_metadata", "--samples", "2")
    assert bad.code == 2
    assert "RECYCLABLE_DISABLE='maybe'" in bad.err


def test_disable_variable_touches_no_cache(
    cli: Cli, log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under RECYCLABLE_DISABLE=1 no cache is created, nothing is fingerprinted, and it says so."""
    default = Path(os.environ["RECYCLABLE_CACHE"])
    named = tmp_path / "named-cache"

    def no_fingerprints(*args: object, **kwargs: object) -> str:
        raise AssertionError("the run's arguments were fingerprinted with recycling off")

    monkeypatch.setattr("recyclable.cli.run.call_identity", no_fingerprints)
    monkeypatch.setenv("RECYCLABLE_DISABLE", "1")
    plain = cli("run", "pipes", "load_metadata", "--samples", "2")
    kept = cli(
        "run", "pipes", "load_metadata", "--samples", "2", "--recycle-pool", "p",
        "--use-cache", str(named),
    )  # fmt: skip
    for result in (plain, kept):
        assert result.code == 0, result.err
        assert "recycling is off" in result.err
        assert "computed" not in result.err  # no pool statistics: there was no pool
    assert executions(log) == ["load_metadata", "load_metadata"]
    assert not default.exists()
    assert not named.exists()


def _exit_code_rows() -> dict[int, str]:
    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    table = text.split("### Exit codes", 1)[1].split("\n## ", 1)[0]
    rows: dict[int, str] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].isdigit():
            rows[int(cells[0])] = cells[1]
    return rows


def test_exit_code_table_names_each_cause_of_exit_1(cli: Cli, tmp_path: Path) -> None:
    """docs/cli.md's exit-code table lists, under 1, an import failure and an --output failure."""
    script = tmp_path / "bad_steps.py"
    script.write_text("raise RuntimeError('broken at import')\n")
    imported = cli("run", f"{script}:main")
    output = cli("run", "cli_actions:unpicklable", "--output", str(tmp_path / "r.result"))
    raised = cli("run", "pipes", "load_metadata", "--samples", "x")
    rows = _exit_code_rows()
    assert (imported.code, output.code, raised.code) == (1, 1, 2)
    assert "imported" in rows[imported.code]
    assert "--output" in rows[output.code]
    assert "usage error" in rows[raised.code]
