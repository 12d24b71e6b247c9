"""The layers of the package, as the folders show them, and the direction of their imports.

    fastrnn.cli (and fastrnn.cli.bench)         the command line: may import everything below
    fastrnn.bench                               the benchmark harness: the application and the library
    fastrnn.forecast                            the forecasting application: the library only
    the library (every other fastrnn module)    never the application, the harness or the CLI

Every import of every module is read with ``ast`` -- at module level and inside functions (the lazy
imports), ``from fastrnn import X`` as the submodule ``fastrnn.X``, relative imports resolved, and
``importlib.import_module("...")`` with a literal name -- so a lazy import cannot slip past.

Two modules are doors, not layers: ``fastrnn/__init__.py`` (the lazy facade that resolves
``fr.forecast`` and ``fr.RunError`` on first use) and ``fastrnn/datasets.py``, the documented alias of
``fastrnn.forecast.datasets``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import fastrnn

ROOT = Path(fastrnn.__file__).resolve().parent
DOORS = {"fastrnn", "fastrnn.datasets"}


def _module_name(path: Path) -> str:
    parts = ["fastrnn", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(module: str) -> bool:
    return (ROOT.parent / module.replace(".", "/") / "__init__.py").is_file()


def _exists(module: str) -> bool:
    base = ROOT.parent / module.replace(".", "/")
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """``(line, imported module)`` for every import in ``source`` (the text of ``module``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package of ``module``
                parts = module.split(".") if is_package else module.split(".")[:-1]
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module
            for a in node.names:  # `from fastrnn import forecast` imports fastrnn.forecast
                sub = f"{base}.{a.name}"
                found.append((node.lineno, sub if _exists(sub) else base))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return [(line, name) for line, name in found if name == "fastrnn" or name.startswith("fastrnn.")]


def layer(module: str) -> str:
    """``cli``, ``bench``, ``forecast`` or ``library`` (``door`` for the facade and the alias)."""
    if module in DOORS:
        return "door"
    for name, prefixes in (("cli", ("fastrnn.cli",)),
                           ("bench", ("fastrnn.bench",)),
                           ("forecast", ("fastrnn.forecast",))):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return name
    return "library"


#: What each layer must not import.
FORBIDDEN = {
    "library": {"forecast", "bench", "cli"},
    "forecast": {"bench", "cli"},
    "bench": {"cli"},
    "cli": set(),
}


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """The imports of ``module`` (its text ``source``) that go upward, as readable lines."""
    own = layer(module)
    if own == "door":
        return []
    return [f"{module}:{line} ({own}) imports {name} ({layer(name)})"
            for line, name in imports(source, module, is_package)
            if layer(name) in FORBIDDEN[own]]


def _sources():
    for path in sorted(ROOT.rglob("*.py")):
        module = _module_name(path)
        yield module, path.read_text(encoding="utf-8"), path.name == "__init__.py"


def test_imports_only_go_downward():
    bad = [v for module, source, pkg in _sources() for v in violations(source, module, pkg)]
    assert bad == [], "imports that go against the layers:\n" + "\n".join(bad)


def test_the_layers_are_the_folders():
    modules = {m for m, _, _ in _sources()}
    assert {"fastrnn.forecast", "fastrnn.forecast.job", "fastrnn.forecast.datasets",
            "fastrnn.cli", "fastrnn.cli.forecast", "fastrnn.cli.__main__"} <= modules
    assert layer("fastrnn.trainer") == "library" and layer("fastrnn.kernels.lstm") == "library"
    assert layer("fastrnn.forecast.preprocessing") == "forecast"
    assert layer("fastrnn.cli.bench") == "cli" and layer("fastrnn.bench") == "bench"
    for old in ("preprocessing", "baselines", "csvread", "cli_forecast", "cli_bench"):  # moved, no alias
        assert f"fastrnn.{old}" not in modules


@pytest.mark.parametrize("module, source", [
    ("fastrnn.trainer", "def f():\n    from fastrnn.forecast import train\n"),
    ("fastrnn.models", "from fastrnn import forecast\n"),
    ("fastrnn.kernels.lstm", "from .. import cli\n"),
    ("fastrnn.optim", "import fastrnn.bench\n"),
    ("fastrnn.losses", "import importlib\nimportlib.import_module('fastrnn.forecast.job')\n"),
    ("fastrnn.forecast.job", "def f():\n    from fastrnn.cli import main\n"),
    ("fastrnn.forecast.runs", "from fastrnn import bench\n"),
    ("fastrnn.forecast.predict", "from ..cli import forecast\n"),
    ("fastrnn.bench", "from fastrnn.cli import main\n"),
])
def test_an_upward_import_is_caught(module, source):
    assert len(violations(source, module)) == 1


@pytest.mark.parametrize("module, source", [
    ("fastrnn.trainer", "from fastrnn import clip\nfrom fastrnn.models import load\n"),
    ("fastrnn.forecast.job", "from fastrnn.trainer import Trainer\nfrom . import config\n"),
    ("fastrnn.bench", "from fastrnn.forecast import make_config\n"),
    ("fastrnn.cli.forecast", "from fastrnn.forecast import run\nfrom fastrnn import bench\n"),
])
def test_a_downward_import_passes(module, source):
    assert violations(source, module) == []


def test_forecast_and_cli_share_no_underscored_names():
    """Inside the application and the CLI, what one module takes from another is public-within-
    package (no leading underscore); ``_`` is for names private to their module."""
    bad = []
    for module, source, _ in _sources():
        if layer(module) not in ("forecast", "cli"):
            continue
        for node in ast.walk(ast.parse(source)):
            if (isinstance(node, ast.ImportFrom) and node.module
                    and layer(node.module) in ("forecast", "cli")):
                bad += [f"{module}:{node.lineno} imports {node.module}.{a.name}"
                        for a in node.names if a.name.startswith("_")]
    assert bad == []


def test_the_datasets_alias_re_exports_exactly_the_public_names():
    import fastrnn.datasets as alias
    import fastrnn.forecast.datasets as real

    assert alias.__all__ == real.__all__
    for name in real.__all__:
        assert getattr(alias, name) is getattr(real, name)
    public = {n for n in vars(alias) if not n.startswith("_")} - {"annotations"}
    assert public == set(real.__all__)
