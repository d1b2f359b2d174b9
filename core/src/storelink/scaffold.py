"""Start a platform plugin: render the plugin template under a new name.

The template is a real, working plugin for a tiny fake platform, named
``storelink-template`` (distribution), ``storelink_template`` (package), ``template``
(slug) and ``Template`` (title and class prefix). It is tested as it is, and
:func:`render_plugin` copies it with those names replaced, so what an author starts
from is exactly what CI checks. The template ships inside the ``storelink`` wheel
(``storelink/_template``); an editable install of a checkout uses
``plugins/_template`` instead.

Variants live under the template's ``variants/`` directory, each a set of files laid
over the plugin when it is rendered with that variant. ``variants/oauth``
(``storelink plugin new NAME --oauth``) makes a plugin onboarded by an OAuth
authorization-code install instead of a pasted key: the declared flow, the three
OAuth hooks, and a simulator with an approve step and a token endpoint.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from attrs import frozen

from storelink.errors import ConfigurationError, InputError

__all__ = ["VARIANTS", "PluginNames", "next_steps", "render_plugin", "template_dir"]

_NAME = re.compile(r"[a-z][a-z0-9_]{1,31}")
_RESERVED = frozenset({"template", "testing", "plugins", "core"})
# "template" as a word or name part; "Template" in CamelCase too (TestTemplateContract).
_TOKEN = re.compile(r"(?<![A-Za-z0-9])template(?![a-z0-9])|Template(?![a-z0-9])|(?<![A-Za-z0-9])TEMPLATE(?![A-Z0-9])")
_SKIPPED = frozenset({"__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache", "build", "dist"})
_TEXT_SUFFIXES = frozenset({".py", ".toml", ".md", ".json", ".txt", ".cfg", ".ini", ".typed", ""})
_VARIANTS_DIR = "variants"

#: The template's variants, each laid over the plugin by ``render_plugin(..., variant=)``.
VARIANTS = ("oauth",)


@frozen
class PluginNames:
    """Every spelling of a plugin's name that the template uses.

    :param slug: The platform slug and entry-point name (``big_shop``).
    """

    slug: str

    @property
    def package(self) -> str:
        """The import name (``storelink_big_shop``)."""
        return f"storelink_{self.slug}"

    @property
    def distribution(self) -> str:
        """The distribution name (``storelink-big-shop``)."""
        return "storelink-" + self.slug.replace("_", "-")

    @property
    def title(self) -> str:
        """The title and class prefix (``BigShop``)."""
        return "".join(part.capitalize() for part in self.slug.split("_"))

    def apply(self, text: str) -> str:
        """Return *text* with the template's names replaced by these."""
        text = text.replace("storelink-template", self.distribution)
        spellings = {"template": self.slug, "Template": self.title, "TEMPLATE": self.slug.upper()}
        return _TOKEN.sub(lambda m: spellings[m.group(0)], text)


def _check_name(name: str) -> PluginNames:
    if not _NAME.fullmatch(name) or name.endswith("_") or "__" in name:
        raise InputError(
            f"{name!r} is not a platform slug: use 2 to 32 lower case letters, digits and single underscores, "
            "starting with a letter (for example: shopify, big_commerce)",
            path="NAME",
        )
    if name in _RESERVED:
        raise InputError(f"{name!r} is reserved; choose the platform's own name", path="NAME")
    return PluginNames(name)


def template_dir() -> Path:
    """Return the directory of the plugin template.

    :raises ConfigurationError: This installation of storelink has no template.
    """
    shipped = resources.files("storelink") / "_template"
    if shipped.is_dir():
        return Path(str(shipped))
    checkout = Path(__file__).resolve().parents[3] / "plugins" / "_template"
    if (checkout / "pyproject.toml").is_file():
        return checkout
    raise ConfigurationError("this installation of storelink has no plugin template; reinstall storelink")


def _render_tree(source: Path, target: Path, names: PluginNames) -> None:
    for root, dirs, files in os.walk(source):
        here = Path(root)
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in _SKIPPED and not d.endswith(".egg-info") and not (here == source and d == _VARIANTS_DIR)
        )
        out_dir = target / names.apply(str(here.relative_to(source)))
        out_dir.mkdir(parents=True, exist_ok=True)
        for file in sorted(files):
            path = here / file
            if path.suffix == ".pyc":
                continue
            out = out_dir / names.apply(file)
            if path.suffix in _TEXT_SUFFIXES:
                out.write_text(names.apply(path.read_text(encoding="utf-8")), encoding="utf-8")
            else:
                shutil.copyfile(path, out)


def render_plugin(name: str, dest: str | os.PathLike[str], *, variant: str | None = None) -> Path:
    """Create the plugin ``storelink-NAME`` in the directory *dest*, and return its path.

    The new directory holds a working plugin for a tiny fake platform, with its
    packaging, simulator, fixtures and contract test, under the new names. Nothing is
    printed; :func:`next_steps` says what to do next.

    :param name: The platform slug (``shopify``): the entry-point name, and the base of
        the package (``storelink_shopify``) and distribution (``storelink-shopify``) names.
    :param dest: The directory to create it in (created if missing).
    :param variant: One of :data:`VARIANTS` (``"oauth"``: onboarded by an OAuth install),
        or ``None`` for the plugin onboarded with a pasted API key.
    :return: The new plugin's directory, ``dest/storelink-NAME``.
    :raises InputError: *name* is not a valid slug, the variant is unknown, or the
        directory already exists (nothing is overwritten).
    :raises ConfigurationError: This installation of storelink has no template (or
        not the variant).
    """
    names = _check_name(name)
    if variant is not None and variant not in VARIANTS:
        raise InputError(f"unknown template variant {variant!r}; choose one of: {', '.join(VARIANTS)}", path="variant")
    parent = Path(dest)
    target = parent / names.distribution
    if target.exists():
        exists = InputError(f"{target} already exists", path="--dir")
        exists.action = "choose another --dir or remove it"
        raise exists
    source = template_dir()
    overlay = source / _VARIANTS_DIR / variant if variant is not None else None
    if overlay is not None and not (overlay / "pyproject.toml").is_file():
        raise ConfigurationError(f"this installation of storelink has no {variant!r} template; reinstall storelink")
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{names.distribution}-", dir=parent))
    try:
        _render_tree(source, staging, names)
        if overlay is not None:
            _render_tree(overlay, staging, names)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def next_steps(path: str | os.PathLike[str]) -> list[str]:
    """Return what to do after :func:`render_plugin` made *path*, one step per line."""
    project = Path(path)
    package = (project / "src" / project.name.replace("-", "_")).relative_to(project)
    steps = [
        f"cd {project}",
        "python -m pip install -e '.[test]'",
        "python -m pytest                      # the contract suite passes against the fake platform",
        f"edit {package}/simulator.py to model your platform's API, then plugin.py and mapping.py",
    ]
    if (project / package / "oauth.py").is_file():
        steps.append(
            f"edit {package}/oauth_simulator.py to model the platform's install (approve screen, token endpoint), "
            "then oauth.py"
        )
    return [*steps, "keep `python -m pytest` green; see the plugin guide in the storelink docs"]
