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
