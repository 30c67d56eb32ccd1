"""The ``workers`` shim against Cloudflare's SDK (workers-runtime-sdk 1.9.5): names and signatures.

The SDK needs Pyodide (it imports ``js``), so its sources are read with ``ast`` from the
installed distribution (a test-only dependency) and never imported. For every name in its
``workers.__all__`` we check that the shim has it, and for functions and classes that the
parameters (names, kinds, defaults) of the callables and the public members match; the
same for the submodules apps import (``workers.asgi``, ``workers.wsgi``,
``workers.gateway``, ``workers.workflows``) and the top-level ``asgi`` alias. Annotations
are not compared: ours name Python types where the SDK names JS ones.
"""

from __future__ import annotations

import ast
import enum
import importlib
import importlib.metadata
import inspect
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest

from emulator.runtime.loader import ensure_import_hooks

SDK_VERSION = "1.9.5"


# --- reading the SDK ------------------------------------------------------------------------

def _sdk_root() -> Path:
    dist = importlib.metadata.distribution("workers-runtime-sdk")
    assert dist.version == SDK_VERSION, f"the parity test reads workers-runtime-sdk {SDK_VERSION}, found {dist.version}"
    return Path(str(dist.locate_file("workers/__init__.py"))).parent


Param = tuple[str, str, "str | None"]  # (name, kind, default source or None)


def _ast_params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[Param]:
    a = fn.args
    out: list[Param] = []
    positional = [*a.posonlyargs, *a.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    for i, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        kind = "POSITIONAL_ONLY" if i < len(a.posonlyargs) else "POSITIONAL_OR_KEYWORD"
        out.append((arg.arg, kind, None if default is None else ast.unparse(default)))
    if a.vararg:
        out.append((a.vararg.arg, "VAR_POSITIONAL", None))
    for arg, default in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        out.append((arg.arg, "KEYWORD_ONLY", None if default is None else ast.unparse(default)))
    if a.kwarg:
        out.append((a.kwarg.arg, "VAR_KEYWORD", None))
    return out


def _default_source(value: Any) -> str | None:
    if value is inspect.Parameter.empty:
        return None
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    return repr(value)


def _our_params(fn: Any) -> list[Param]:
    return [(p.name, p.kind.name, _default_source(p.default)) for p in inspect.signature(fn).parameters.values()]


def _decorators(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    return {ast.unparse(d) for d in fn.decorator_list}


@dataclass
class SdkClass:
    name: str
    bases: list[str]
    methods: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)
    properties: set[str] = field(default_factory=set)
    annotations: list[str] = field(default_factory=list)
    enum_members: dict[str, Any] = field(default_factory=dict)
    is_dataclass: bool = False


class SdkModule:
    """Top-level definitions of one SDK source file."""

    def __init__(self, path: Path, package: str) -> None:
        self.tree = ast.parse(path.read_text(), filename=str(path))
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.classes: dict[str, SdkClass] = {}
        self.constants: dict[str, Any] = {}
        self.imports: dict[str, str] = {}  # name -> relative module it is imported from
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions[node.name] = node
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = self._class(node)
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                try:
                    self.constants[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    pass
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                try:
                    self.constants[node.target.id] = ast.literal_eval(node.value)
                except ValueError:
                    pass
            elif isinstance(node, ast.ImportFrom) and (node.level >= 1 or (node.module or "").startswith("workers")):
                # `from .blob import Blob` and `from workers.gateway import BaseOptions` alike,
                # as dotted paths inside the `workers` package
                source = node.module or ""
                if node.level == 0:
                    source = source[len("workers"):].lstrip(".")
                else:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)] if package else []
                    source = ".".join([*base, source] if source else base)
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = source

    @staticmethod
    def _class(node: ast.ClassDef) -> SdkClass:
        cls = SdkClass(node.name, [ast.unparse(b) for b in node.bases],
                       is_dataclass=any("dataclass" in ast.unparse(d) for d in node.decorator_list))
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if "property" in _decorators(item):
                    cls.properties.add(item.name)
                else:
                    cls.methods[item.name] = item
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                cls.annotations.append(item.target.id)
            elif isinstance(item, ast.Assign) and len(item.targets) == 1 and isinstance(item.targets[0], ast.Name):
                try:
                    cls.enum_members[item.targets[0].id] = ast.literal_eval(item.value)
                except ValueError:
                    pass
        return cls


class Sdk:
    def __init__(self) -> None:
        self.root = _sdk_root()
        self._modules: dict[str, SdkModule] = {}

    def module(self, dotted: str) -> SdkModule:
        """``""`` is ``workers/__init__.py``; ``"gateway.options"`` a submodule."""
        if dotted not in self._modules:
            path = self.root / ("__init__.py" if not dotted else dotted.replace(".", "/") + ".py")
            package = dotted.rpartition(".")[0]
            if not path.is_file():
                path = self.root / dotted.replace(".", "/") / "__init__.py"
                package = dotted
            self._modules[dotted] = SdkModule(path, package)
        return self._modules[dotted]

    def all_names(self) -> list[str]:
        names = self.module("").constants["__all__"]
        assert isinstance(names, list)
        return names

    def resolve(self, name: str, where: str = "") -> tuple[SdkModule, str]:
        """The module that defines ``name`` (following ``from .x import name``)."""
        module = self.module(where)
        seen = 0
        while name in module.imports and name not in module.classes and name not in module.functions:
            target = module.imports[name]
            where = target
            module = self.module(where)
            seen += 1
            assert seen < 5
        return module, name

    def class_chain(self, module: SdkModule, name: str) -> list[SdkClass]:
        """The class and its bases defined in the SDK (bases from elsewhere are skipped)."""
        chain = [module.classes[name]]
        for base in chain[0].bases:
            if base in module.classes:
                chain += self.class_chain(module, base)
            elif base in module.imports:
                other, base_name = self.resolve(base, module.imports[base])
                if base_name in other.classes:
                    chain += self.class_chain(other, base_name)
        return chain


@pytest.fixture(scope="module")
def sdk() -> Sdk:
    return Sdk()


@pytest.fixture(scope="module")
def ours() -> Any:
    ensure_import_hooks()
    import workers

    return workers


# Members ``workers.FetchResponse`` inherits from Pyodide's ``pyodide.http.FetchResponse``
# (not in the SDK's sources, so listed here from Pyodide's documented API).
PYODIDE_FETCH_RESPONSE = {
    "methods": {"buffer", "bytes", "clone", "json", "memoryview", "raise_for_status", "text"},
    "properties": {"body_used", "headers", "ok", "redirected", "status", "status_text", "type", "url", "js_response"},
}


def _sample(cls: type) -> Any:
    """An instance to look for properties on (they may be instance attributes here)."""
    samples: dict[str, Any] = {
        "Request": lambda: cls("https://example.com/", method="POST", body="x"),
        "Response": lambda: cls("x"),
        "FetchResponse": lambda: cls("x"),
        "Blob": lambda: cls(["x"]),
        "File": lambda: cls(["x"], "f.txt"),
        "FormData": lambda: cls({"a": "b"}),
    }
    make = samples.get(cls.__name__, lambda: cls(None, None))
    return make()


def _compare_callable(label: str, sdk_fn: ast.FunctionDef | ast.AsyncFunctionDef, our_fn: Any,
                      problems: list[str]) -> None:
    want, got = _ast_params(sdk_fn), _our_params(our_fn)
    if want != got:
        problems.append(f"{label}: SDK {want} != ours {got}")
    # An async method in the SDK must be awaitable here too (a sync one returning a coroutine
    # counts: `FetchResponse.json` is sync in both).
    if isinstance(sdk_fn, ast.AsyncFunctionDef) and not inspect.iscoroutinefunction(inspect.unwrap(our_fn)):
        problems.append(f"{label}: async in the SDK, not here")


def _compare_class(label: str, chain: list[SdkClass], ours: type, problems: list[str],
                   inherited: dict[str, set[str]] | None = None) -> None:
    own = chain[0]
    if own.is_dataclass:
        assert is_dataclass(ours), f"{label} should be a dataclass"
        want = [name for cls in reversed(chain) for name in cls.annotations]
        got = [f.name for f in fields(ours)]
        if want != got:
            problems.append(f"{label}: dataclass fields {want} != {got}")
        return
    if "TypedDict" in own.bases:
        got = list(getattr(ours, "__annotations__", {}))
        if own.annotations != got:
            problems.append(f"{label}: TypedDict keys {own.annotations} != {got}")
        return
    if own.enum_members and any("Enum" in b for b in own.bases):
        got_members = {m.name: m.value for m in ours}  # type: ignore[attr-defined]  # an Enum class here
        if own.enum_members != got_members:
            problems.append(f"{label}: members {own.enum_members} != {got_members}")
        return
    methods: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    properties: set[str] = set()
    for cls in reversed(chain):  # subclass definitions win
        methods.update(cls.methods)
        properties |= cls.properties
    sample = None
    for name, fn in methods.items():
        if name.startswith("_") and not (name.startswith("__") and name not in ("__init_subclass__", "__repr__")):
            continue  # private helpers; dunders (mapping protocol, __init__) are compared
        if name == "__init__" and own.name not in ("Context",):
            our_init = ours.__init__  # type: ignore[misc]  # the class's own __init__ is what is compared
            _compare_callable(f"{label}.__init__", fn, our_init, problems)
            continue
        member = inspect.getattr_static(ours, name, None)
        if member is None:
            problems.append(f"{label}.{name}: missing")
            continue
        decorators = _decorators(fn)
        if "staticmethod" in decorators and not isinstance(member, (staticmethod, classmethod)):
            problems.append(f"{label}.{name}: a staticmethod in the SDK")
        _compare_callable(f"{label}.{name}", fn, getattr(ours, name), problems)
    extra = inherited or {}
    for name in sorted(properties | extra.get("properties", set())):
        if name.startswith("_"):
            continue
        if inspect.getattr_static(ours, name, None) is None:
            sample = sample if sample is not None else _sample(ours)
            if not hasattr(sample, name):
                problems.append(f"{label}.{name}: property missing")
    for name in sorted(extra.get("methods", set())):
        if not callable(getattr(ours, name, None)):
            problems.append(f"{label}.{name}: method missing")


# --- the tests ---------------------------------------------------------------------------------

def test_all_names_match(sdk: Sdk, ours: Any) -> None:
    assert sorted(ours.__all__) == sorted(sdk.all_names())
    for name in sdk.all_names():
        if name in ("env", "wait_until", "waitUntil"):
            continue  # lazy: checked below
        assert hasattr(ours, name), name


def test_every_public_name_has_the_sdks_shape(sdk: Sdk, ours: Any) -> None:
    problems: list[str] = []
    checked = 0
    for name in sdk.all_names():
        if name in ("env", "wait_until", "waitUntil"):
            continue
        module, real = sdk.resolve(name)
        ours_value = getattr(ours, name)
        if real in module.functions:
            _compare_callable(f"workers.{name}", module.functions[real], ours_value, problems)
        elif real in module.classes:
            inherited = PYODIDE_FETCH_RESPONSE if real in ("FetchResponse", "Response") else None
            _compare_class(f"workers.{name}", sdk.class_chain(module, real), ours_value, problems, inherited)
        elif real in module.constants:
            if module.constants[real] != ours_value:
                problems.append(f"workers.{name}: {module.constants[real]!r} != {ours_value!r}")
        else:
            problems.append(f"workers.{name}: not found in the SDK sources (test needs updating)")
            continue
        checked += 1
    assert not problems, "\n".join(problems)
    assert checked == len(sdk.all_names()) - 3


def test_lazy_module_attributes_exist_outside_app_code_as_errors(ours: Any) -> None:
    # In the SDK these come from `cloudflare:workers` when read; outside app code ours
    # explain themselves instead of being missing.
    for name in ("env", "wait_until", "waitUntil"):
        with pytest.raises(RuntimeError, match="only available while app code runs"):
            getattr(ours, name)


@pytest.mark.parametrize("submodule, names", [
    ("asgi", ["fetch", "websocket", "entrypoint", "Options", "request_to_scope", "start_application"]),
    ("wsgi", ["fetch", "entrypoint", "Options", "build_environ"]),
    ("gateway.options", ["BaseOptions"]),
    ("workflows", ["NonRetryableError"]),
])
def test_submodules_match(sdk: Sdk, ours: Any, submodule: str, names: list[str]) -> None:
    module = sdk.module(submodule)
    mine = importlib.import_module(f"workers.{submodule}")
    problems: list[str] = []
    for name in names:
        value = getattr(mine, name, None)
        if value is None:
            problems.append(f"workers.{submodule}.{name}: missing")
        elif name in module.functions:
            _compare_callable(f"workers.{submodule}.{name}", module.functions[name], value, problems)
        elif name in module.classes:
            _compare_class(f"workers.{submodule}.{name}", sdk.class_chain(module, name), value, problems)
    assert not problems, "\n".join(problems)


def test_top_level_asgi_is_workers_asgi(ours: Any) -> None:
    import sys

    sys.modules.pop("asgi", None)
    import asgi  # noqa: F401 - what `03-fastapi` does
    import workers.asgi

    assert sys.modules["asgi"] is workers.asgi
