"""``storelink demo --platform``: the platforms beside OCC, run for real as the console script.

The demo picks its flow from ``platform_info().oauth``; Shopify is the installed
plugin that declares one (and ships a simulator that plays the approve step).
WooCommerce onboards with a pasted key pair.
"""

from __future__ import annotations

import re

import pytest

from .conftest import run_script


def _counts(out: str) -> dict[str, float]:
    summary = out[out.index("storelink demo: summary") :]
    assert summary.rstrip().splitlines()[-1].startswith("└")
    counts = {}
    for line in summary.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 2 and cells[1].replace(",", "").replace(".", "").isdigit():
            counts[cells[0]] = float(cells[1].replace(",", ""))
    return counts


@pytest.mark.timeout(120)
def test_the_oauth_demo_installs_syncs_orders_and_uninstalls(env: dict[str, str]) -> None:
    pytest.importorskip("storelink_shopify")
    done = run_script("demo", "--platform", "shopify", "--products", "60", env={**env, "COLUMNS": "100"}, timeout=110)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Start a simulated Shopify store" in out
    assert "normalised  http://localhost:" in out
    assert re.search(r"authorize   http://localhost:\d+/admin/oauth/authorize ", out)
    assert "write_orders" in out
    assert "the merchant approved the app" in out
    assert re.search(r"callback    http://127\.0\.0\.1:\d+/oauth/callback: state spent, store matched, verified", out)
    assert "ok  create_orders" in out
    assert "credentials stored encrypted" in out
    assert "replayed=False" in out
    assert "replayed=True" in out
    assert "the replay returned the same order" in out
    assert "Uninstall the app from the store" in out
    assert "rejected the credentials" in out
    assert "exit code 3" in out
    assert "status      revoked" in out
    assert "WARNING" not in done.stderr
    assert "tokens live" not in out  # the platform has no refresh_token hook: no refresh step
    counts = _counts(out)
    assert counts["products synced"] == 60
    assert counts["inventory levels synced"] > 60
    assert counts["shipping methods synced"] >= 1
    assert counts["orders created"] == 1
    assert counts["order replays (same order, nothing sent)"] == 1
    assert counts["calls refused after revocation"] == 2
    assert counts["token refreshes"] == 0
    assert counts["retries"] == 0  # paced: no query was sent to be throttled
    assert counts["seconds"] < 60
    for secret_shape in ("shpua_", "shpss_", "shpat_", "code="):
        assert secret_shape not in out + done.stderr


@pytest.mark.timeout(120)
def test_the_oauth_demo_waits_for_the_store_s_budget_instead_of_being_throttled(env: dict[str, str]) -> None:
    """A sync larger than the simulated shop's cost bucket is paced: waits are shown, and nothing is retried."""
    pytest.importorskip("storelink_shopify")
    done = run_script("demo", "--platform", "shopify", "--products", "150", env={**env, "COLUMNS": "100"}, timeout=110)
    assert done.returncode == 0, done.stderr
    paced = r"paced       \d+ request\(s\) waited \d+\.\d s in all for the store's request budget"
    assert re.search(paced, done.stdout)
    assert _counts(done.stdout)["retries"] == 0


def test_an_unknown_platform_is_refused_naming_the_simulated_ones(env: dict[str, str]) -> None:
    done = run_script("demo", "--platform", "nosuchplatform", env=env)
    assert done.returncode == 2
    assert "no installed plugin simulates 'nosuchplatform'" in done.stderr
    assert "occ" in done.stderr


@pytest.mark.timeout(120)
def test_the_key_demo_of_a_self_hosted_platform_runs_end_to_end(env: dict[str, str]) -> None:
    """WooCommerce: a key pair, page-number paging and a simulator served by ``serve_in_thread``."""
    pytest.importorskip("storelink_woocommerce")
    done = run_script(
        "demo", "--platform", "woocommerce", "--products", "120", env={**env, "COLUMNS": "100"}, timeout=110
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "ok  create_orders" in out
    assert "replayed=False" in out
    assert "replayed=True" in out
    assert "the replay returned the same order" in out
    assert "status      revoked" in out
    assert "Internal Server Error" not in out + done.stderr
    counts = _counts(out)
    assert counts["products synced"] == 120
    assert counts["inventory levels synced"] >= 120
    assert counts["shipping methods synced"] >= 1
    assert counts["orders created"] == 1
    assert counts["order replays (same order, nothing sent)"] == 1
    assert counts["calls refused after revocation"] == 2
