"""``storelink.scaffold``: rendering the plugin template under a new name, and shipping it."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from storelink import InputError
from storelink.scaffold import PluginNames, next_steps, render_plugin, template_dir

LEFTOVER = re.compile(r"(?<![A-Za-z0-9])template|Template|TEMPLATE")


def test_names_are_spelled_for_each_use() -> None:
    names = PluginNames("big_shop")
    assert (names.package, names.distribution, names.title) == ("storelink_big_shop", "storelink-big-shop", "BigShop")
    assert names.apply("storelink-template storelink_template TemplateServer TEMPLATE_KEY template.example") == (
        "storelink-big-shop storelink_big_shop BigShopServer BIG_SHOP_KEY big_shop.example"
    )
    assert names.apply("templates and contemplate stay") == "templates and contemplate stay"


def test_render_replaces_every_name(tmp_path: Path) -> None:
    project = render_plugin("big_shop", tmp_path)
    assert project == tmp_path / "storelink-big-shop"
    assert (project / "src/storelink_big_shop/plugin.py").is_file()
    assert not (project / "src/storelink_template").exists()
    pyproject = (project / "pyproject.toml").read_text()
    assert 'name = "storelink-big-shop"' in pyproject
    assert 'big_shop = "storelink_big_shop.plugin"' in pyproject
    assert 'slug="big_shop"' in (project / "src/storelink_big_shop/plugin.py").read_text()
    assert "class TestBigShopContract(PlatformContract)" in (project / "tests/test_contract.py").read_text()
    for path in project.rglob("*"):
        if path.is_file():
            assert not LEFTOVER.search(path.read_text()), f"{path} still names the template"
    assert not any(p.name == "__pycache__" for p in project.rglob("*"))


@pytest.mark.parametrize("name", ["Shopify", "1shop", "s", "big-shop", "big__shop", "shop_", "a" * 33, "template"])
def test_render_refuses_a_bad_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError) as caught:
        render_plugin(name, tmp_path)
    assert caught.value.path == "NAME"
    assert list(tmp_path.iterdir()) == []


def test_render_never_overwrites(tmp_path: Path) -> None:
    existing = tmp_path / "storelink-shop"
    existing.mkdir()
    (existing / "mine.txt").write_text("keep me")
    with pytest.raises(InputError, match="already exists"):
        render_plugin("shop", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["storelink-shop"]
    assert (existing / "mine.txt").read_text() == "keep me"


def test_next_steps_start_in_the_new_directory(tmp_path: Path) -> None:
    steps = next_steps(tmp_path / "storelink-shop")
    assert steps[0] == f"cd {tmp_path / 'storelink-shop'}"
    assert any("pip install -e" in step for step in steps)
    assert any("src/storelink_shop/simulator.py" in step for step in steps)


def test_an_editable_install_renders_from_the_checkout() -> None:
    assert template_dir() == Path(__file__).resolve().parents[3] / "plugins" / "_template"


def test_the_wheel_ships_the_template_and_renders_without_a_checkout(tmp_path: Path) -> None:
    core = Path(__file__).resolve().parents[2]
    subprocess.run(  # noqa: S603  # this interpreter, on the checkout's core
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(core), "-w", str(tmp_path / "wheels")],
        check=True,
        capture_output=True,
        timeout=180,
    )
    (wheel,) = (tmp_path / "wheels").glob("storelink-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "storelink/_template/pyproject.toml" in names
    assert "storelink/_template/src/storelink_template/plugin.py" in names
    assert "storelink/_template/tests/test_contract.py" in names
    assert "storelink/_template/variants/oauth/src/storelink_template/oauth.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    script = (
        "import sys; from storelink.scaffold import render_plugin, template_dir;"
        "print(template_dir()); print(render_plugin('shop', sys.argv[1]))"
    )
    rendered = subprocess.run(  # noqa: S603  # this interpreter, with the extracted wheel first on the path
        [sys.executable, "-c", script, str(tmp_path / "out")],
        env={"PYTHONPATH": str(site), "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    shipped, project = rendered.stdout.split()
    assert Path(shipped) == site / "storelink" / "_template"
    assert (Path(project) / "src/storelink_shop/plugin.py").is_file()


# --------------------------------------------------------------------------- the OAuth variant

TEMPLATE = Path(__file__).resolve().parents[3] / "plugins" / "_template"
OAUTH = TEMPLATE / "variants" / "oauth"


def test_the_key_variant_renders_without_the_variants(tmp_path: Path) -> None:
    project = render_plugin("shop", tmp_path)
    assert not (project / "variants").exists()
    assert not (project / "src/storelink_shop/oauth.py").exists()
    assert "oauth=" not in (project / "src/storelink_shop/plugin.py").read_text()


def test_the_oauth_variant_lays_its_files_over_the_plugin(tmp_path: Path) -> None:
    project = render_plugin("big_shop", tmp_path, variant="oauth")
    package = project / "src/storelink_big_shop"
    assert {p.name for p in package.glob("*.py")} == {
        "__init__.py",
        "credentials.py",
        "mapping.py",
        "oauth.py",
        "oauth_simulator.py",
        "plugin.py",
        "simulator.py",
        "urls.py",
    }
    assert not (project / "variants").exists()
    plugin = (package / "plugin.py").read_text()
    assert "oauth=OAUTH_FLOW" in plugin
    for hook in ("build_authorization_url", "verify_callback", "complete_authorization"):
        assert f"def {hook}(" in plugin
    pyproject = (project / "pyproject.toml").read_text()
    assert 'big_shop = "storelink_big_shop.oauth_simulator:create"' in pyproject
    assert "class TestBigShopContract(PlatformContract)" in (project / "tests/test_contract.py").read_text()
    assert "BigShopOAuthSimulator" in (package / "oauth_simulator.py").read_text()
    for path in project.rglob("*"):
        if path.is_file():
            assert not LEFTOVER.search(path.read_text()), f"{path} still names the template"
    assert any("oauth_simulator.py" in step for step in next_steps(project))
    assert not any("oauth_simulator.py" in step for step in next_steps(render_plugin("shop", tmp_path)))


def test_an_unknown_variant_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown template variant 'saml'; choose one of: oauth") as caught:
        render_plugin("shop", tmp_path, variant="saml")
    assert caught.value.path == "variant"
    assert list(tmp_path.iterdir()) == []


def _after(text: str, banner: str) -> str:
    return text[text.index(banner) :]


def test_the_oauth_variant_keeps_the_key_variants_data_hooks_verbatim() -> None:
    """Only onboarding differs: the read and order hooks are the key variant's, character for character."""
    key = (TEMPLATE / "src/storelink_template/plugin.py").read_text()
    oauth = (OAUTH / "src/storelink_template/plugin.py").read_text()
    banner = "def _token_param("
    assert _after(oauth, banner) == _after(key, banner)
    assert _after(oauth, "@hookimpl\nasync def check_access(") == _after(key, "@hookimpl\nasync def check_access(")


def test_the_oauth_variant_keeps_the_key_variants_packaging() -> None:
    """Its pyproject.toml differs only in the description, the simulator's entry point and the import order."""
    key = (TEMPLATE / "pyproject.toml").read_text().splitlines()
    oauth = (OAUTH / "pyproject.toml").read_text().splitlines()
    changed = {line for line in set(oauth) ^ set(key) if line}
    assert changed == {
        next(line for line in key if line.startswith("description")),
        next(line for line in oauth if line.startswith("description")),
        'template = "storelink_template.simulator:create"',
        'template = "storelink_template.oauth_simulator:create"',
        "[tool.ruff.lint.isort]",
        'known-first-party = ["storelink_template"]',
    }


def test_plugin_new_oauth_renders_the_oauth_variant(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from storelink.cli import cli

    result = CliRunner().invoke(cli, ["plugin", "new", "big_shop", "--oauth", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    project = tmp_path / "storelink-big-shop"
    assert str(project) in result.stdout
    assert (project / "src/storelink_big_shop/oauth.py").is_file()
    assert "oauth_simulator.py" in result.output
