"""The public API is exactly what __all__ lists (pinned, like httpx's test_exported_members)."""

from __future__ import annotations

import types

import storelink


def test_all_is_sorted_and_complete() -> None:
    assert storelink.__all__ == sorted(storelink.__all__)
    public = {
        name
        for name in dir(storelink)
        if not name.startswith("_") and not isinstance(getattr(storelink, name), types.ModuleType)
    }
    stray = public - set(storelink.__all__) - {"annotations", "TYPE_CHECKING"}
    assert not stray, f"public names not in __all__: {sorted(stray)}"


def test_every_exported_name_resolves() -> None:
    for name in storelink.__all__:
        assert getattr(storelink, name) is not None


def test_every_exported_error_is_a_storelink_error() -> None:
    for name in storelink.__all__:
        obj = getattr(storelink, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, storelink.StorelinkError), name


def test_get_platform_and_list_platforms_find_occ() -> None:
    info = storelink.get_platform("occ").info
    assert info.slug == "occ"
    assert info.title == "Oracle Commerce Cloud"
    assert "occ" in [p.slug for p in storelink.list_platforms()]


def test_heavy_modules_load_on_first_use_only() -> None:
    """``import storelink`` stays cheap: the HTTP stack, store and vault load lazily."""
    import subprocess
    import sys

    heavy = "('httpx', 'storelink.hub', 'storelink.vault')"
    code = f"import sys, storelink; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout  # noqa: S603
    assert out.strip() == "[]"
    assert storelink.Hub.__name__ == "Hub"


# --------------------------------------------------------------------------- signatures name only public types

import ast  # noqa: E402  # grouped with the tests that use them
import inspect  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import typing  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402

#: Exported classes for implementers and low-level tests, whose signatures may also use
#: the public names of their own public package (a store backend's row types live in
#: ``storelink.store``; the runtime's parts in ``storelink.http`` and its modules).
_IMPLEMENTER_PACKAGES = {"ConnectionStore": "storelink.store", "ConnectionRuntime": "storelink.http"}

#: Constructors a host never calls (the object comes from another call), with the reason.
_MADE_FOR_YOU = {
    "SyncHub.__init__": "made by SyncHub.open; its loop thread is internal",
    "SyncSession.__init__": "made by SyncHub.session",
    "BlockingIterator.__init__": "made by a SyncSession's reads",
    "Validation.__init__": "made by Hub.validate; a host reads it and passes it to Hub.save",
    "Session.__init__": "made by Hub.session (typed against storelink.sessionhost.SessionHost, the hub's side)",
}


def _calls(name: str, obj: object) -> Iterator[tuple[str, Callable[..., Any]]]:
    """Yield ``(qualified name, function)`` for *obj* and, for a class, each of its public calls."""
    if inspect.isfunction(obj):
        yield name, obj
        return
    if not isinstance(obj, type):
        return
    for klass in obj.__mro__:
        if not klass.__module__.startswith("storelink"):
            continue
        for attr, member in vars(klass).items():
            if attr.startswith("_") and attr != "__init__":
                continue
            function = member.fget if isinstance(member, property) else member
            if isinstance(function, classmethod | staticmethod):
                function = function.__func__
            if inspect.isfunction(function):
                yield f"{name}.{attr}", function


def _types(hint: object) -> Iterator[type]:
    """Yield every class a resolved annotation mentions (``list[Page[Product]]``: list, Page, Product)."""
    if isinstance(hint, type):
        yield hint
    origin = typing.get_origin(hint)
    if isinstance(origin, type):
        yield origin
    for arg in typing.get_args(hint):
        yield from _types(arg) if not isinstance(arg, list) else (t for a in arg for t in _types(a))


def signature_problems() -> list[str]:
    public = {name: getattr(storelink, name) for name in storelink.__all__}
    exported = {id(value) for value in public.values()}
    problems = []
    for name, obj in public.items():
        home = _IMPLEMENTER_PACKAGES.get(name)
        allowed = set(exported)
        if home is not None:
            for module_name, module in list(sys.modules.items()):
                if module_name == home or module_name.startswith(home + "."):
                    allowed |= {id(getattr(module, n)) for n in getattr(module, "__all__", ()) if hasattr(module, n)}
        for qualname, function in _calls(name, obj):
            if qualname in _MADE_FOR_YOU:
                continue
            namespace = {**vars(sys.modules[function.__module__]), **public, "httpx": httpx}
            try:
                hints = typing.get_type_hints(function, globalns=namespace)
            except NameError as exc:
                problems.append(f"{qualname}: {exc} (import it at run time, and export it)")
                continue
            for hint in hints.values():
                for cls in _types(hint):
                    if cls.__module__.startswith("storelink") and id(cls) not in allowed:
                        problems.append(f"{qualname} uses {cls.__module__}.{cls.__qualname__}, not exported")
    return sorted(set(problems))


def test_every_type_a_public_signature_names_is_exported() -> None:
    """A user can import every type that a public call takes or returns from ``storelink`` itself."""
    problems = signature_problems()
    assert not problems, "\n".join(problems)


def test_the_signature_walk_sees_the_host_api() -> None:
    """The walk reaches the calls the issue named, so an unexported type there would be caught."""
    names = {qualname for name in storelink.__all__ for qualname, _ in _calls(name, getattr(storelink, name))}
    assert {"Hub.validate", "Hub.open", "Hub.stats", "Hub.session", "Session.pages", "SyncHub.save"} <= names
    assert {"Validation", "PagingConfig", "HubStats", "Session", "cursor_to_str"} <= set(storelink.__all__)


def test_the_exemptions_name_real_constructors() -> None:
    names = {qualname for name in storelink.__all__ for qualname, _ in _calls(name, getattr(storelink, name))}
    assert set(_MADE_FOR_YOU) <= names


# --------------------------------------------------------------------------- the docs import from storelink

ROOT = Path(__file__).resolve().parents[3]


def public_modules() -> list[str]:
    """Return the modules ``docs/concepts.md`` lists as public, besides ``storelink``."""
    text = (ROOT / "docs" / "concepts.md").read_text()
    section = text.split("## Public modules", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(storelink\.\w+)` \|", section, re.M)


def _imports() -> Iterator[tuple[str, str, list[str]]]:
    """Yield ``(where, module, names)`` for each storelink import in the README's and docs' Python."""
    sources = [
        (page.relative_to(ROOT).as_posix(), block)
        for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
        for block in re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    ]
    examples = sorted((ROOT / "docs" / "examples").glob("*.py"))
    sources += [(p.relative_to(ROOT).as_posix(), p.read_text()) for p in examples]
    for where, code in sources:
        try:
            tree = compile(code, where, "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        except SyntaxError:  # a block of bare signatures (the hook reference): read its import lines alone
            lines = [line.strip() for line in code.splitlines() if re.match(r"\s*(from|import) storelink", line)]
            tree = ast.parse("\n".join(lines))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "storelink":
                yield where, node.module or "", [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "storelink":
                        yield where, alias.name, []


def test_the_public_modules_exist() -> None:
    modules = public_modules()
    assert {"storelink.testing", "storelink.redaction", "storelink.store"} <= set(modules)
    for module in modules:
        __import__(module)


def test_the_docs_import_only_from_storelink_and_its_public_modules() -> None:
    """README and docs examples say ``from storelink import ...``; implementation modules stay out of them."""
    allowed = {"storelink", *public_modules()}
    found = [f"{where}: {module}" for where, module, _ in _imports() if module not in allowed]
    assert not found, "import these from storelink instead:\n" + "\n".join(found)


def test_every_name_the_docs_import_from_storelink_exists() -> None:
    """``from storelink import X`` in the docs reaches X (the README's Hub among them)."""
    names = [(where, name) for where, module, imported in _imports() if module == "storelink" for name in imported]
    assert ("README.md", "Hub") in names
    missing = [f"{where}: {name}" for where, name in names if name not in storelink.__all__]
    assert not missing, missing
