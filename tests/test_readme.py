"""The README's "Use it from a research script" example runs as written (so it cannot rot)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
HEADING = "## Use it from a research script"


def _example():
    text = README.read_text(encoding="utf-8")
    assert HEADING in text, f"README.md has no section {HEADING!r}"
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the section should hold exactly one python code block"
    return blocks[0]


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


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
