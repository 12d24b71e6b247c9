"""`fastrnn bench` from the command line: a tiny run prints the table and writes JSON; bad options
give one-line errors."""

import json

from click.testing import CliRunner

from fastrnn.cli import main


def test_bench_tiny_run_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    r = CliRunner().invoke(main, ["bench", "--sizes", "2,3,1,4", "--cells", "gru", "--dtype", "float64",
                                  "--backends", "numpy,numba", "--mode", "train", "--repeat", "1",
                                  "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert "| train | 2, 3, 1, 4 | gru | float64 |" in r.output
    data = json.loads(out.read_text())
    rows = [row for row in data["ratios"] if row["cell"] == "gru" and row["mode"] == "train"]
    assert len(rows) == 1 and rows[0]["numpy_over_numba"] > 0


def test_bench_rejects_bad_options():
    for args, needle in ((["--sizes", "1,2"], "B,T,I,H"), (["--cells", "lstm,foo"], "foo"),
                         (["--dtype", "float16"], "float16"), (["--repeat", "0"], "repeat")):
        r = CliRunner().invoke(main, ["bench", *args])
        assert r.exit_code == 2, (args, r.output)
        assert needle in r.output and "Traceback" not in r.output
