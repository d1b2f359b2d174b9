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
