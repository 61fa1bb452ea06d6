"""Errors a user can cause from the command line: one line, no traceback, the documented code."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import Outcome, executions, process_env

Cli = Callable[..., Outcome]

pytestmark = pytest.mark.usefixtures("plugin_path")


def _one_line(outcome: Outcome) -> str:
    assert "Traceback" not in outcome.err, outcome.err
    lines = outcome.err.strip().splitlines()
    assert len(lines) == 1, outcome.err
    return lines[0]


def test_output_follows_the_extension_or_names_the_formats_that_fit(
    cli: Cli, log: Path, tmp_path: Path
) -> None:
    """An array for a.json is refused (exit 2, naming a.npy); the kept step then loads into a.npy.

    The format used to follow the value: a.json got .npy bytes, out.npy got JSON.
    """
    cache = ["--use-cache", str(tmp_path / "cache")]
    array_run = ["run", "pipes", "load-reads", "--n", "50", "--seed", "3", *cache]
    refused = cli(*array_run, "--output", str(tmp_path / "a.json"))
    assert refused.code == 2
    assert f"formats that fit it: {tmp_path / 'a.npy'} (numpy .npy)" in refused.err
    assert not (tmp_path / "a.json").exists()
    written = cli(*array_run, "--output", str(tmp_path / "a.npy"))
    assert written.code == 0, written.err
    assert "1 step(s) loaded, 0 computed" in written.err
    assert executions(log) == ["load_reads"]
    expected = np.random.default_rng(3).integers(0, 40, size=50)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), expected)

    dict_run = ["run", "pipes", "load-metadata", "--samples", "2", *cache]
    refused = cli(*dict_run, "--output", str(tmp_path / "m.npy"))
    assert refused.code == 2
    assert f"{tmp_path / 'm.json'} (JSON)" in refused.err and "(numpy .npy)" not in refused.err
    assert cli(*dict_run, "--output", str(tmp_path / "m.json")).code == 0
    assert json.loads((tmp_path / "m.json").read_text()) == {"sample": [0, 1], "group": [0, 1]}
    assert cli(*dict_run, "--output", str(tmp_path / "m.rcy")).code == 0
    assert (tmp_path / "m.rcy").read_bytes().startswith(b"recyclable-result 1\n")


def test_empty_pool_name_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    """`--recycle-pool ""` is refused; it used to fall back to the default pool, never released."""
    cache = tmp_path / "cache"
    result = cli(
        "run", "pipes", "prepare", "--seed", "1", "--use-cache", str(cache), "--recycle-pool", ""
    )
    assert result.code == 2
    assert "--recycle-pool: invalid pool name ''" in _one_line(result)
    assert not (cache / "pools").exists() or not list((cache / "pools").iterdir())


def test_help_into_a_closed_pipe_ends_quietly(plugin_path: Path, tmp_path: Path) -> None:
    """`recyclable run --help | head -0`: no BrokenPipeError, exit 141 as after SIGPIPE."""
    for args in (["run", "--help"], ["run", "pipes", "--help"], ["--help"]):
        proc = subprocess.Popen(
            [sys.executable, "-m", "recyclable", *args],
            env=process_env(plugin_path),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        proc.stdout.close()  # the reader is gone before the command writes
        _, err = proc.communicate(timeout=120)
        assert err == ""
        assert proc.returncode == 141


def test_bad_disable_value_is_one_line(plugin_path: Path, tmp_path: Path) -> None:
    """RECYCLABLE_DISABLE=maybe: exit 2 and the message alone, no chained KeyError."""
    done = subprocess.run(
        [sys.executable, "-m", "recyclable", "run", "pipes", "prepare", "--seed", "1"],
        env=process_env(plugin_path, RECYCLABLE_DISABLE="maybe"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    line = _one_line(Outcome(done.returncode, done.stdout, done.stderr))
    assert "RECYCLABLE_DISABLE='maybe' is not understood" in line and "KeyError" not in line


def test_unknown_pool_is_explained_in_command_line_terms(cli: Cli, tmp_path: Path) -> None:
    """`cache show nope` points at `recyclable cache pools`, not at a Python call."""
    cache = ["--use-cache", str(tmp_path / "cache")]
    assert cli("run", "pipes", "prepare", "--seed", "1", *cache, "--recycle-pool", "kept").code == 0
    for args in (["show", "nope"], ["remove", "nope"]):
        result = cli("cache", *args, *cache)
        assert result.code == 2
        line = _one_line(result)
        assert "no pool 'nope'" in line and "(pools: kept)" in line
        assert "recyclable cache pools" in line and "create_pool" not in line


def test_undecorated_action_is_said_so(cli: Cli, tmp_path: Path) -> None:
    """`run json:dumps` runs, and says the call itself is never stored (it is not @recyclable)."""
    result = cli("run", "json:dumps", "--obj", "3", "--use-cache", str(tmp_path / "cache"))
    assert result.code == 0
    assert result.out == "'\"3\"'\n"
    assert "json:dumps is not decorated with @recyclable" in result.err
    decorated = cli("run", "pipes", "prepare", "--seed", "1", "--use-cache", str(tmp_path / "c2"))
    assert "not decorated" not in decorated.err


def test_verbose_shows_a_readable_collection_report(cli: Cli, tmp_path: Path) -> None:
    """-v shows what the collection after a released run removed, in words, not a repr."""
    result = cli("run", "pipes", "prepare", "--seed", "2", "--use-cache", str(tmp_path / "c"), "-v")
    assert result.code == 0
    report = [line for line in result.err.splitlines() if "garbage collection of" in line]
    assert report and "1 entries, 0 data files (0 B)" in report[0], result.err
    assert "GarbageReport(" not in result.err


def test_bad_disable_value_in_the_library_is_not_chained(tmp_path: Path) -> None:
    """The library's ConfigurationError for a bad switch value carries no KeyError context."""
    from recyclable import Cache, ConfigurationError

    pool = Cache(tmp_path / "cache").create_pool("p")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECYCLABLE_DISABLE", "perhaps")
        with pytest.raises(ConfigurationError) as raised, pool:
            pass
    assert raised.value.__context__ is None
