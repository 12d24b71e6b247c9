"""Tests of the ``fastrnn`` command line interface (group, --version, info)."""

import subprocess
import sys
from importlib import metadata

import click
import numba
import numpy
import pytest
from click.testing import CliRunner

import fastrnn
from fastrnn.cli import main


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def temp_command():
    """Register throw-away subcommands on ``main``; removed afterwards."""
    added = []

    def add(cmd):
        main.add_command(cmd)
        added.append(cmd.name)
        return cmd

    yield add
    for name in added:
        main.commands.pop(name, None)


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(runner, flag):
    result = runner.invoke(main, [flag])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"fastrnn, version {fastrnn.__version__}"


def test_help_lists_info(runner):
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    assert "info" in result.output


def test_info_reports_versions(runner):
    result = runner.invoke(main, ["info"])
    assert result.exit_code == 0, result.output
    assert result.exception is None
    out = result.output
    lines = {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in out.splitlines()}
    assert lines["fastrnn"].startswith(fastrnn.__version__)
    assert lines["numpy"] == numpy.__version__
    assert lines["numba"] == numba.__version__
    for label in (
        "Python",
        "llvmlite",
        "scipy",
        "BLAS",
        "numba threading layer (config)",
        "numba threading layer (active)",
        "numba threads",
        "CPUs",
        "torch",
    ):
        assert label in lines, f"{label!r} missing from:\n{out}"
    # The parallel probe ran, so Numba has picked a concrete layer.
    assert lines["numba threading layer (active)"] in {"tbb", "omp", "workqueue"}, out
    assert str(numba.get_num_threads()) in lines["numba threads"]


def test_unknown_command_is_a_clean_usage_error(runner):
    result = runner.invoke(main, ["no-such-command"])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert "No such command" in result.output
    assert "Traceback" not in result.output


def test_unknown_option_is_a_clean_usage_error(runner):
    result = runner.invoke(main, ["info", "--no-such-option"])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


def test_click_exception_is_one_line(runner, temp_command):
    @click.command("_fail_click")
    def cmd():
        raise click.ClickException("bad input: horizon must be positive")

    temp_command(cmd)
    result = runner.invoke(main, ["_fail_click"])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.output.strip() == "Error: bad input: horizon must be positive"


@pytest.mark.parametrize(
    "exc, message",
    [
        (ValueError("x must have shape (T, B, I), got (3,)"), "x must have shape (T, B, I), got (3,)"),
        (FileNotFoundError(2, "No such file or directory", "missing.csv"),
         "No such file or directory: missing.csv"),
    ],
)
def test_input_errors_become_one_line_errors(runner, temp_command, exc, message):
    @click.command("_fail_input")
    def cmd():
        raise exc

    temp_command(cmd)
    result = runner.invoke(main, ["_fail_input"])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.output.strip() == f"Error: {message}"
    assert "Traceback" not in result.output


def test_debug_flag_keeps_the_original_exception(runner, temp_command):
    @click.command("_fail_debug")
    def cmd():
        raise ValueError("boom")

    temp_command(cmd)
    result = runner.invoke(main, ["--debug", "_fail_debug"])
    assert result.exit_code == 1
    assert isinstance(result.exception, ValueError)


def test_real_process_unknown_command_has_no_traceback():
    """Same as above, through a real interpreter with standalone-mode exit."""
    proc = subprocess.run(
        [sys.executable, "-c", "from fastrnn.cli import main; main()", "no-such-command"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "No such command" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_console_script_entry_point_is_declared():
    try:
        dist = metadata.distribution("fastrnn")
    except metadata.PackageNotFoundError:
        pytest.skip("fastrnn is not pip-installed; run `pip install '.[test]'` first")
    scripts = [ep for ep in dist.entry_points if ep.group == "console_scripts"]
    assert {ep.name: ep.value for ep in scripts}.get("fastrnn") == "fastrnn.cli:main"
