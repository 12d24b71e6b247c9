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


# --- Lazy imports: the CLI's help and version never load numba, numpy or the kernels -----------

_HEAVY = ("numba", "numpy", "scipy", "pandas", "fastrnn.models", "fastrnn.kernels")


def _loaded_after(code: str, env_extra=None) -> list[str]:
    """Run ``code`` in a fresh interpreter; return the heavy modules it left in sys.modules."""
    import os

    probe = f"{code}\nimport sys\nprint(','.join(m for m in {_HEAVY!r} if m in sys.modules))"
    env = dict(os.environ, **(env_extra or {}))
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env,
                         check=True)
    last = (out.stdout.splitlines() or [""])[-1]
    return [m for m in last.split(",") if m]


def test_import_cli_loads_no_numba():
    assert _loaded_after("import fastrnn.cli") == []


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["train", "--help"], ["bench", "--help"]])
def test_help_and_version_load_no_numba(argv):
    code = ("import sys\nfrom fastrnn.cli import main\n"
            f"try:\n    main({argv!r}, standalone_mode=False)\nexcept SystemExit:\n    pass")
    loaded = _loaded_after(code)
    # `train --help` lists the per-dataset defaults, read from fastrnn.forecast (numpy, no numba).
    allowed = {"numpy"} if argv[0] == "train" else set()
    assert set(loaded) <= allowed, loaded


def test_package_names_resolve_lazily():
    loaded = _loaded_after("import fastrnn\nassert fastrnn.__version__")
    assert loaded == []
    assert fastrnn.LSTM.__module__ == "fastrnn.models"
    loaded = _loaded_after("import fastrnn\nassert fastrnn.forecast.make_config and fastrnn.models.load")
    assert "fastrnn.models" in loaded  # submodules resolve as attributes, as before the lazy package
    assert set(fastrnn.__all__) <= set(dir(fastrnn))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        fastrnn.nope  # noqa: B018


def test_info_survives_a_broken_numba(tmp_path):
    import os

    fake = tmp_path / "numba"
    fake.mkdir()
    (fake / "__init__.py").write_text('raise RuntimeError("numba is broken here")\n')
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "fastrnn.cli", "info"], capture_output=True,
                         text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert "numba is broken here" in out.stdout
