"""mcmcore/_core.pyi stays in step with the compiled module (a cheap stand-in for mypy's stubtest, which CI lacks)."""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import mcmcore
from mcmcore import _core

STUB = Path(mcmcore.__file__).with_name("_core.pyi")


def _stub_names() -> tuple[dict[str, ast.AST], dict[str, set[str]]]:
    tree = ast.parse(STUB.read_text())
    top: dict[str, ast.AST] = {}
    members: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            top[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            top[node.target.id] = node
        if isinstance(node, ast.ClassDef):
            members[node.name] = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
    return top, members


def test_py_typed_and_stub_ship_with_the_package():
    assert STUB.exists()
    assert STUB.with_name("py.typed").exists()


def test_every_stub_name_exists_at_runtime():
    top, members = _stub_names()
    public = {n for n in top if not n.startswith("_")}
    assert {"derive_graph", "routes", "Problem", "Incremental", "CoreError", "N_VIOLATIONS", "TOPOLOGY_CODES",
            "DATAFLOW_CODES"} <= public
    for name in public:
        assert hasattr(_core, name), name
        if isinstance(top[name], ast.ClassDef):
            assert inspect.isclass(getattr(_core, name)), name
        elif isinstance(top[name], ast.FunctionDef):
            assert callable(getattr(_core, name)), name
    for cls, names in members.items():
        for member in names - {"__new__", "__init__"}:
            assert hasattr(getattr(_core, cls), member), f"{cls}.{member}"


def test_runtime_names_are_in_the_stub():
    """Whatever the compiled module exports (classes, functions, their methods) has a stub."""
    top, members = _stub_names()
    runtime = {n for n, v in vars(_core).items() if not n.startswith("_") and not inspect.ismodule(v)}
    assert runtime <= set(top), sorted(runtime - set(top))
    for cls in sorted(n for n in runtime if inspect.isclass(getattr(_core, n))):
        methods = {n for n in vars(getattr(_core, cls)) if not n.startswith("_")}
        assert methods <= members[cls], (cls, sorted(methods - members[cls]))


def test_stub_signatures_match_runtime():
    top, members = _stub_names()
    for name in (n for n, node in top.items() if isinstance(node, ast.FunctionDef)):
        stub_args = [a.arg for a in top[name].args.args]
        assert stub_args == list(inspect.signature(getattr(_core, name)).parameters), name
    for cls in (n for n, node in top.items() if isinstance(node, ast.ClassDef)):
        node = top[cls]
        for fn in node.body:
            if isinstance(fn, ast.FunctionDef) and not fn.name.startswith("_") \
                    and not any(isinstance(d, ast.Name) and d.id == "property" for d in fn.decorator_list):
                runtime = list(inspect.signature(getattr(getattr(_core, cls), fn.name)).parameters)
                assert [a.arg for a in fn.args.args] == runtime, f"{cls}.{fn.name}"
