"""`fastrnn bench` from the command line: a tiny run prints the table and writes JSON; bad options
give one-line errors."""

import json

import pytest
from click.testing import CliRunner

from fastrnn import bench
from fastrnn.cli import main


@pytest.fixture(autouse=True)
def _stub_gemm_peak(monkeypatch):
    """Skip the GEMM peak measurement (seconds per dtype; tests/test_bench.py measures it once)."""
    monkeypatch.setattr(bench, "gemm_peak", lambda dtype: 1.0)


def test_bench_tiny_run_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    r = CliRunner().invoke(main, ["bench", "--datasets", "none", "--sizes", "2,3,1,4", "--cells", "gru",
                                  "--dtype", "float64", "--backends", "numpy,numba", "--mode", "train",
                                  "--repeat", "1", "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert "| grid | train | 2, 3, 1, 4 | gru | float64 |" in r.output
    data = json.loads(out.read_text())
    rows = [row for row in data["ratios"] if row["cell"] == "gru" and row["mode"] == "train"]
    assert len(rows) == 1 and rows[0]["numpy_over_numba"] > 0 and rows[0]["case"] == "grid"


def test_bench_dataset_case_in_table():
    """A dataset case alone: its row shows the dataset, its training settings and its own sizes."""
    case = bench.dataset_case("temperature")
    r = CliRunner().invoke(main, ["bench", "--datasets", "temperature", "--sizes", "none", "--dtype", "float64",
                                  "--backends", "numba", "--mode", "train", "--repeat", "1"])
    assert r.exit_code == 0, r.output
    size = ", ".join(map(str, case["size"]))
    label = bench.case_label(bench.case_row(case))
    assert f"| {label} | train | {size} | {case['cell']} | float64 |" in r.output
    assert "| grid |" not in r.output


@pytest.mark.parametrize("args, datasets, sizes", [
    ([], bench.DATASETS, bench.SIZES),
    (["--datasets", "stock,airline", "--sizes", "none"], ("stock", "airline"), ()),
    (["--datasets", "none", "--sizes", "2,3,1,4"], (), ((2, 3, 1, 4),)),
])
def test_bench_datasets_and_sizes_options(monkeypatch, args, datasets, sizes):
    calls = []
    monkeypatch.setattr(bench, "run", lambda **kw: calls.append(kw))
    r = CliRunner().invoke(main, ["bench", *args])
    assert r.exit_code == 0, r.output
    assert tuple(calls[0]["datasets"]) == datasets and tuple(calls[0]["sizes"]) == sizes


def test_bench_rejects_bad_options():
    for args, needle in ((["--sizes", "1,2"], "B,T,I,H"), (["--cells", "lstm,foo"], "foo"),
                         (["--dtype", "float16"], "float16"), (["--repeat", "0"], "repeat"),
                         (["--datasets", "airline,weather"], "weather"),
                         (["--datasets", "none", "--sizes", "none"], "nothing to time")):
        r = CliRunner().invoke(main, ["bench", *args])
        assert r.exit_code == 2, (args, r.output)
        assert needle in r.output and "Traceback" not in r.output


def test_bench_passes_every_option_to_run(monkeypatch):
    """The options of the former ``python -m fastrnn.bench`` reach :func:`fastrnn.bench.run`."""
    calls = []
    monkeypatch.setattr(bench, "run", lambda **kw: calls.append(kw))
    args = ["--datasets", "airline", "--sizes", "2,3,1,4;4x5x2x8", "--cells", "gru,rnn", "--dtype", "float64",
            "--backends", "numba", "--mode", "infer", "--threads", "1", "--repeat", "3", "--min-sample", "0.2",
            "--settle", "0", "--numpy-blas-threads", "1", "--clock", "cpu", "--startup"]
    r = CliRunner().invoke(main, ["bench", *args])
    assert r.exit_code == 0, r.output
    kw = calls[0]
    assert (tuple(kw["datasets"]), kw["sizes"], tuple(kw["cells"]), tuple(kw["dtypes"])) == (
        ("airline",), ((2, 3, 1, 4), (4, 5, 2, 8)), ("gru", "rnn"), ("float64",))
    assert (tuple(kw["backends"]), tuple(kw["modes"]), kw["threads"], kw["repeat"]) == (("numba",), ("infer",), 1, 3)
    assert (kw["min_sample_s"], kw["settle_s"], kw["numpy_blas_threads"], kw["clock"], kw["startup"]) == (
        0.2, 0.0, 1, "cpu", True)
    CliRunner().invoke(main, ["bench"])
    assert (calls[1]["min_sample_s"], calls[1]["settle_s"], calls[1]["numpy_blas_threads"], calls[1]["clock"],
            calls[1]["startup"]) == (0.05, 0.15, None, "wall", False)


def test_bench_rejects_bad_developer_options():
    for args, needle in ((["--clock", "cpu"], "--clock cpu needs --threads 1"),
                         (["--clock", "cpu", "--threads", "2"], "--clock cpu needs --threads 1"),
                         (["--clock", "sun"], "sun"), (["--min-sample", "-1"], "min-sample"),
                         (["--settle", "x"], "settle"), (["--numpy-blas-threads", "0"], "numpy-blas-threads")):
        r = CliRunner().invoke(main, ["bench", *args])
        assert r.exit_code == 2, (args, r.output)
        assert needle in r.output and "Traceback" not in r.output


def test_one_bench_cli():
    """``fastrnn bench`` is the only command line: the package has no ``__main__`` nor ``main()``."""
    import importlib.util

    assert importlib.util.find_spec("fastrnn.bench.__main__") is None
    assert not hasattr(bench, "main")


@pytest.mark.parametrize("value", ["0", "-3", "abc", "2.5"])
def test_bench_rejects_bad_many(value):
    """--many 0, --many -3, ...: one line `Error: ...`, exit status 2, nothing timed."""
    r = CliRunner().invoke(main, ["bench", "--many", value])
    assert r.exit_code == 2, r.output
    assert r.output.splitlines() == [f"Error: --many needs a whole number of models >= 1; got {value!r}; "
                                     "pass e.g. --many 64 (issue 12's case)"]


def test_bench_many_and_contention_options_reach_run(monkeypatch):
    calls = []
    monkeypatch.setattr(bench, "run", lambda **kw: calls.append(kw))
    runner = CliRunner()
    for args in (["--many", "64"], ["--many", "3", "--many-cells", "gru,rnn", "--many-sides", "loop,jax_vmap"],
                 ["--contention"], ["--contention", "python", "--datasets", "stock"],
                 ["--contention", "--sizes", "2,3,1,4"], ["--contention", "--datasets", "none", "--many", "2"]):
        r = runner.invoke(main, ["bench", *args])
        assert r.exit_code == 0, (args, r.output)
    kw = [{k: c[k] for k in ("many", "many_cells", "many_sides", "contention", "sizes", "datasets")} for c in calls]
    assert (kw[0]["many"], tuple(kw[0]["many_cells"]), tuple(kw[0]["many_sides"])) == (64, ("lstm",), bench.MANY_SIDES)
    assert kw[0]["contention"] is None and kw[0]["sizes"] == bench.SIZES
    assert (kw[1]["many"], tuple(kw[1]["many_cells"]), tuple(kw[1]["many_sides"])) == (3, ("gru", "rnn"),
                                                                                        ("loop", "jax_vmap"))
    assert (kw[2]["contention"], kw[2]["sizes"], tuple(kw[2]["datasets"])) == ("blas", (), bench.DATASETS)
    assert (kw[3]["contention"], kw[3]["sizes"], tuple(kw[3]["datasets"])) == ("python", (), ("stock",))
    assert (kw[4]["contention"], kw[4]["sizes"]) == ("blas", ((2, 3, 1, 4),))
    assert (kw[5]["contention"], kw[5]["many"], tuple(kw[5]["datasets"])) == ("blas", 2, ())


def test_bench_rejects_bad_many_and_contention_options():
    for args, needle in ((["--many-cells", "lstm,foo"], "foo"), (["--many-sides", "keras"], "keras"),
                         (["--contention", "gpu"], "gpu"),
                         (["--contention", "--datasets", "none"], "nothing to time")):
        r = CliRunner().invoke(main, ["bench", *args])
        assert r.exit_code == 2, (args, r.output)
        assert needle in r.output and "Traceback" not in r.output


def test_bench_many_tiny_run_prints_its_table(tmp_path):
    """A real --many run (M = 2, the loop only): the table's row, "no fastrnn.stack" or the stack's
    numbers, and the JSON's many rows."""
    out = tmp_path / "many.json"
    r = CliRunner().invoke(main, ["bench", "--datasets", "none", "--sizes", "none", "--many", "2",
                                  "--many-sides", "stack,loop", "--dtype", "float64", "--threads", "1",
                                  "--repeat", "1", "--min-sample", "0", "--settle", "0", "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert "| 2 models (adam) | 32, 24, 1, 32 | lstm | float64 |" in r.output
    rows = json.loads(out.read_text())["many"]
    assert len(rows) == 1 and rows[0]["num_models"] == 2 and rows[0]["loop_ms"] > 0
    if bench.steps.stack_function() is None:
        assert rows[0]["absent"] == {"stack": "no fastrnn.stack"} and "| no fastrnn.stack |" in r.output
    else:
        assert rows[0]["stack_ms"] > 0 and rows[0]["loop_over_stack"] > 0


def test_bench_many_refuses_a_stack_unlike_the_loop(monkeypatch):
    """The self-check's failure is one `Error:` line, and no table."""
    message = "the stack of 2 lstm models (float64) does not train like the loop of them"

    def mismatch(cell, size, dtype, num_models, steps=2):
        raise bench.StackMismatchError(message)

    monkeypatch.setattr(bench.steps, "stack_function", lambda: object)
    monkeypatch.setattr(bench.steps, "StackStep", lambda *a, **k: object())
    monkeypatch.setattr(bench, "check_stack_matches_loop", mismatch)
    r = CliRunner().invoke(main, ["bench", "--datasets", "none", "--sizes", "none", "--many", "2", "--many-sides",
                                  "stack,loop", "--dtype", "float64", "--threads", "1", "--repeat", "1"])
    assert r.exit_code == 1, r.output
    assert r.output.splitlines()[-1] == f"Error: {message}"
    assert "| 2 models" not in r.output and "Traceback" not in r.output
