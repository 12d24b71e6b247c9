"""The README's "Use it from a research script" examples run as written (so they cannot rot)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
HEADING = "## Use it from a research script"


def _blocks():
    text = README.read_text(encoding="utf-8")
    assert HEADING in text, f"README.md has no section {HEADING!r}"
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2, "the section should hold two python code blocks: a model, then a stack"
    return blocks


def _example():
    return _blocks()[0]


def test_example_is_at_most_ten_lines():
    assert len(_example().strip().splitlines()) <= 10


def test_example_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # it saves a model file in the current directory
    code = _example()
    namespace = {"__name__": "__main__"}
    exec(compile(code, f"{README.name} ({HEADING[3:]})", "exec"), namespace)
    out = capsys.readouterr().out
    match = re.fullmatch(r"best epoch (\d+), validation MSE (\S+)\n", out)
    assert match, out
    assert 1 <= int(match.group(1)) <= 10
    assert float(match.group(2)) < 1e-2, "the example should show a model that learned something"
    assert (tmp_path / "sine_lstm.npz").exists()
    assert len(namespace["history"].loss) >= 1
    # the second block (model stacks) continues in the same session, on the same X, y
    exec(compile(_blocks()[1], f"{README.name} (stacks)", "exec"), namespace)
    out = capsys.readouterr().out
    match = re.fullmatch(r"\[(.*)\] \(8, 176, 1\)\n", out)
    assert match, out
    assert all(1 <= int(e) <= 10 for e in match.group(1).split(", "))
    assert (tmp_path / "stack.npz").exists() and len(namespace["models"]) == 8


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
