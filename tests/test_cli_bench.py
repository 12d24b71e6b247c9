"""`fastrnn bench` from the command line: a tiny run prints the table and writes JSON; bad options
give one-line errors."""

import json

import pytest
from click.testing import CliRunner

from fastrnn import bench
from fastrnn.cli import main


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
    label = bench.case_label(bench._case_row(case))
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
