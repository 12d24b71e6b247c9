"""The library's public API is documented (numpydoc) and type-hinted, and stays so.

Every public class, function and method of the library modules below (names without a leading
``_``, plus ``__call__``, and the methods a public class inherits from a private base such as
``models._Recurrent``) must have

* a docstring; a ``Parameters`` section naming every argument when it takes any (for a class: its
  constructor's arguments, in the class docstring or ``__init__``'s);
* a ``Returns`` section when it returns something, a ``Raises`` section when its own body raises;
* annotations on every argument and on the return value.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap

MODULES = ["fastrnn.functional", "fastrnn.reference", "fastrnn.models", "fastrnn.losses", "fastrnn.optim",
           "fastrnn.clip", "fastrnn.trainer", "fastrnn.diagnostics", "fastrnn.cells", "fastrnn.warmup"]


def _section(doc: str, title: str) -> str | None:
    """The text of numpydoc section ``title`` of ``doc`` (None if it has none)."""
    doc = textwrap.dedent(doc or "")
    m = re.search(rf"^\s*{title}\n\s*-{{3,}}\n(.*?)(?=^\s*\w[\w ]*\n\s*-{{3,}}\n|\Z)", doc, re.M | re.S)
    return m.group(1) if m else None


def _raises_directly(func) -> bool:
    """Whether ``func``'s own body (not a nested function) has a ``raise SomeError(...)``."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError):
        return False
    body = tree.body[0]

    def walk(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                continue
            if isinstance(child, ast.Raise) and child.exc is not None:
                yield child
            yield from walk(child)

    return any(True for _ in walk(body))


def _args(sig: inspect.Signature) -> list[inspect.Parameter]:
    return [p for n, p in sig.parameters.items() if n not in ("self", "cls")]


def _check_callable(where: str, func, problems: list[str], *, is_property: bool = False) -> None:
    doc = inspect.getdoc(func)
    if not doc:
        problems.append(f"{where}: no docstring")
        return
    sig = inspect.signature(func)
    args = _args(sig)
    if args:
        params = _section(doc, "Parameters")
        if params is None:
            problems.append(f"{where}: arguments {[p.name for p in args]} but no Parameters section")
        else:
            for p in args:
                if not re.search(rf"(^|[\s,*]){re.escape(p.name)}\b", params):
                    problems.append(f"{where}: argument {p.name!r} not in the Parameters section")
    for p in args:
        if p.annotation is inspect.Parameter.empty:
            problems.append(f"{where}: argument {p.name!r} has no type hint")
    ret = sig.return_annotation
    if ret is inspect.Signature.empty:
        problems.append(f"{where}: no return annotation")
    elif (ret not in ("None", None) and not is_property and _section(doc, "Returns") is None
          and _section(doc, "Yields") is None):  # a generator (or context manager) documents what it yields
        problems.append(f"{where}: returns {ret} but has no Returns section")
    if _raises_directly(func) and _section(doc, "Raises") is None:
        problems.append(f"{where}: raises but has no Raises section")


def _check_class(where: str, cls, problems: list[str], seen: set) -> None:
    doc = inspect.getdoc(cls) if cls.__doc__ else None
    if not doc:
        problems.append(f"{where}: no class docstring")
    if issubclass(cls, BaseException):
        return  # exceptions take a message, as every exception does
    init = cls.__dict__.get("__init__") or next((k.__dict__["__init__"] for k in cls.__mro__
                                                 if "__init__" in k.__dict__), None)
    if init is not None and init is not object.__init__:
        args = _args(inspect.signature(init))
        if args:
            params = _section(doc or "", "Parameters") or _section(inspect.getdoc(init) or "", "Parameters")
            if params is None:
                problems.append(f"{where}: constructor arguments {[p.name for p in args]} but no Parameters "
                                f"section in the class docstring")
            else:
                for p in args:
                    if not re.search(rf"(^|[\s,*]){re.escape(p.name)}\b", params):
                        problems.append(f"{where}: constructor argument {p.name!r} not in Parameters")
            for p in args:
                if p.annotation is inspect.Parameter.empty:
                    problems.append(f"{where}: constructor argument {p.name!r} has no type hint")
    for klass in cls.__mro__:
        if klass.__module__ not in MODULES:
            continue
        for name, member in vars(klass).items():
            if name.startswith("_") and name != "__call__":
                continue
            key = (klass.__qualname__, name)
            if key in seen:
                continue
            seen.add(key)
            at = f"{klass.__module__}.{klass.__qualname__}.{name}"
            if isinstance(member, property):
                _check_callable(at, member.fget, problems, is_property=True)
            elif isinstance(member, (staticmethod, classmethod)):
                _check_callable(at, member.__func__, problems)
            elif inspect.isfunction(member):
                _check_callable(at, member, problems)


def api_problems(module_names=MODULES) -> list[str]:
    """Every rule broken by the public API of ``module_names`` (empty when all is well)."""
    problems: list[str] = []
    seen: set = set()
    for modname in module_names:
        mod = importlib.import_module(modname)
        for name, obj in vars(mod).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != modname:
                continue
            where = f"{modname}.{name}"
            if inspect.isclass(obj):
                _check_class(where, obj, problems, seen)
            elif inspect.isfunction(obj):
                _check_callable(where, obj, problems)
    return problems


def test_public_api_is_documented_and_typed():
    problems = api_problems()
    assert not problems, "\n".join(problems)


def test_checker_catches_a_missing_docstring(monkeypatch):
    """The checker itself fails on an undocumented function, class and method, and on missing hints."""
    from fastrnn import clip, models, trainer

    def bare(grads, max_norm):
        return 0.0

    monkeypatch.setattr(bare, "__module__", "fastrnn.clip")
    monkeypatch.setattr(clip, "clip_grad_norm", bare)
    monkeypatch.setattr(models.ModelFileError, "__doc__", None)
    monkeypatch.setattr(trainer.Loop.stop, "__doc__", "End training.")  # no Parameters section
    problems = "\n".join(api_problems(["fastrnn.clip", "fastrnn.models", "fastrnn.trainer"]))
    assert "fastrnn.clip.clip_grad_norm: no docstring" in problems
    assert "fastrnn.models.ModelFileError: no class docstring" in problems
    assert "fastrnn.trainer.Loop.stop: arguments ['reason'] but no Parameters section" in problems

