"""Meta-tests for prose that states a fact about the code: it must stay true as the code moves.

The error tree drawn in ``errors.py`` and ``docs/concepts.md`` is the class hierarchy;
the hook specs' introduction names every pure hook; every Markdown file a source or
test file cites is in the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import storelink
from storelink import errors, hookspecs

ROOT = Path(__file__).resolve().parents[3]
_BRANCH = re.compile(r"^(?P<indent>(?:│   |    )*)[├└]── (?P<name>\w+)")


def parse_tree(text: str) -> dict[str, str]:
    """Return ``{class: parent}`` of the first box-drawn tree in *text* rooted at ``StorelinkError``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "StorelinkError")
    margin = lines[start].index("StorelinkError")
    parents: dict[str, str] = {}
    path = ["StorelinkError"]
    for line in lines[start + 1 :]:
        match = _BRANCH.match(line[margin:])
        if match is None:
            break
        depth = len(match["indent"]) // 4 + 1
        del path[depth:]
        assert len(path) == depth, f"the tree skips a level at {line.strip()!r}"
        parents[match["name"]] = path[-1]
        path.append(match["name"])
    return parents


def actual_tree() -> dict[str, str]:
    """Return ``{class: parent}`` of every public storelink error, from the classes themselves."""
    tree = {}
    for name in errors.__all__:
        cls = getattr(errors, name)
        if cls is errors.StorelinkError:
            continue
        parent = next(base for base in cls.__bases__ if issubclass(base, errors.StorelinkError))
        tree[name] = parent.__name__
    return tree


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(lambda: errors.__doc__ or "", id="errors.py"),
        pytest.param(lambda: _read("docs/concepts.md"), id="concepts.md"),
    ],
)
def test_the_drawn_error_tree_is_the_class_hierarchy(source: object) -> None:
    drawn = parse_tree(source())  # type: ignore[operator]
    actual = actual_tree()
    missing = sorted(set(actual) - set(drawn))
    extra = sorted(set(drawn) - set(actual))
    moved = sorted(
        f"{name}: drawn under {drawn[name]}, is under {actual[name]}"
        for name in set(drawn) & set(actual)
        if drawn[name] != actual[name]
    )
    assert not missing, f"classes not drawn: {missing}"
    assert not extra, f"drawn but not a storelink error: {extra}"
    assert not moved, f"drawn under another parent: {moved}"


def test_the_tree_parser_sees_nesting() -> None:
    """The parser reads depth from the drawing, so a branch drawn one level off is caught."""
    text = "StorelinkError\n├── A     x\n│   └── B\n│       └── C\n└── D\n"
    assert parse_tree(text) == {"A": "StorelinkError", "B": "A", "C": "B", "D": "StorelinkError"}
    assert parse_tree(text.replace("└── D", "│   └── D"))["D"] == "A"
    with pytest.raises(AssertionError, match="skips a level"):
        parse_tree(text.replace("│   └── B", "└── B"))


def test_every_public_error_is_exported_from_storelink() -> None:
    assert set(errors.__all__) <= set(storelink.__all__)


def test_the_hookspec_introduction_names_every_pure_hook() -> None:
    """The module docstring's list of plain-function hooks is ``PURE_HOOKS``, no more, no fewer."""
    doc = hookspecs.__doc__ or ""
    sentence = re.search(r"the pure ones \((.*?)\) are plain functions", doc, re.S)
    assert sentence, "the hookspecs docstring no longer lists the pure hooks"
    named = re.findall(r"``(\w+)``", sentence.group(1))
    assert [n for n in named if n != "PURE_HOOKS"] == list(hookspecs.PURE_HOOKS)


_SOURCE_DIRS = ("core/src", "core/tests", "plugins", "tests", "scripts")
_CITATION = re.compile(r"[\w./-]*[\w-]+\.md\b")


def _read(relative: str) -> str:
    return (ROOT / relative).read_text()


def _documents() -> set[str]:
    found = {p.relative_to(ROOT).as_posix() for p in ROOT.glob("*.md")}
    for folder in ("docs", "plugins", "bench"):
        found |= {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*.md")}
    return found


def test_every_cited_markdown_file_is_in_the_repository() -> None:
    """A Markdown file named in a source or test file exists (by its path, or by its name under docs/)."""
    documents = _documents()
    names = {path.rsplit("/", 1)[-1] for path in documents if path.startswith("docs/")}
    missing = []
    for folder in _SOURCE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            if ".venv" in path.parts:
                continue
            for cited in _CITATION.findall(path.read_text()):
                if cited in documents or cited in names:
                    continue
                missing.append(f"{path.relative_to(ROOT)}: {cited}")
    assert not missing, "cited documents not in the repository:\n" + "\n".join(missing)
