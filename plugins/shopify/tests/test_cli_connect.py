"""``storelink connect shopify`` against the simulator on loopback: the OAuth install from a terminal."""

from __future__ import annotations

import html
import io
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from click.testing import CliRunner, Result

from storelink.cli import cli
from storelink.simulation import serve_in_thread
from storelink.vault import KeyRing
from storelink_shopify.simulator import ShopifySimulator, SimulatorConfig

REGISTERED = "https://channel.example.com/storelink/callback"


class Shop:
    """The simulator served on loopback."""

    def __init__(self, sim: ShopifySimulator, url: str) -> None:
        self.sim = sim
        self.url = url


class Merchant:
    """The browser ``webbrowser.open`` would start: it installs the app on the shop's approve screen."""

    def __init__(self, *, deliver: bool) -> None:
        self.deliver = deliver
        self.urls: list[str] = []
        self.callbacks: list[str] = []
        self.threads: list[threading.Thread] = []

    def open(self, url: str) -> bool:
        self.urls.append(url)
        with httpx.Client(timeout=10, follow_redirects=False) as browser:
            page = browser.get(url)
            fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
            form = {k: html.unescape(v) for k, v in fields.items()} | {"decision": "install"}
            parts = urlsplit(url)
            answer = browser.post(f"{parts.scheme}://{parts.netloc}/admin/oauth/authorize", data=form)
        assert answer.status_code == 302, answer.text
        callback = answer.headers["location"]
        self.callbacks.append(callback)
        if self.deliver:  # the browser follows the redirect to the command's loopback listener
            thread = threading.Thread(target=lambda: httpx.get(callback, timeout=10))
            thread.start()
            self.threads.append(thread)
        return True


class Pasted(io.RawIOBase):
    """Stdin whose line is the address the browser ended on, known only once the command reads it."""

    def __init__(self, merchant: Merchant) -> None:
        self.merchant = merchant
        self.data: bytes | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.data is None:
            self.data = (self.merchant.callbacks[-1] + "\n").encode()
        chunk, self.data = self.data[: len(buffer)], self.data[len(buffer) :]
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh database and key ring for the CLI, loopback stores allowed."""
    values = {
        "STORELINK_DB": str(tmp_path / "storelink.db"),
        "STORELINK_KEYS": KeyRing.generate("test1").render().splitlines()[-1],
        "STORELINK_ALLOW_LOOPBACK": "1",
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "STORELINK_LOG_LEVEL": "error",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def shop(env: None) -> Iterator[Shop]:
    sim = ShopifySimulator(SimulatorConfig(products=30, orders=5))
    with serve_in_thread(sim.app) as url:
        yield Shop(sim, url)


def _run(*args: str, input: Any = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def _connect(shop: Shop, *extra: str, input: Any) -> Result:
    app = shop.sim.app_credentials()
    return _run(
        "connect",
        "shopify",
        "--store-url",
        shop.url,
        "-a",
        f"client_id={app['client_id']}",
        "-a",
        f"client_secret={app['client_secret']}",
        "--open",
        *extra,
        input=input,
    )


def _reads(shop: Shop, connection_id: str) -> None:
    """The saved connection lists the shop's products."""
    listed = _run("products", connection_id, "--json")
    assert listed.exit_code == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == shop.sim.config.products
    (shown,) = [json.loads(line) for line in _run("connections", "show", connection_id, "--json").stdout.splitlines()]
    assert shown["platform"] == "shopify"
    assert shown["status"] == "active"


def test_connect_with_a_pasted_callback_url_saves_a_connection_that_reads(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    merchant = Merchant(deliver=False)
    monkeypatch.setattr("webbrowser.open", merchant.open)
    result = _connect(shop, "--callback-url", "--redirect-uri", REGISTERED, input=io.BufferedReader(Pasted(merchant)))
    assert result.exit_code == 0, result.stderr
    (url,) = merchant.urls
    assert url in result.stderr
    assert url.startswith(f"{shop.url}/admin/oauth/authorize?")
    assert parse_qs(urlsplit(url).query)["redirect_uri"] == [REGISTERED]
    assert "ok  products" in result.stderr
    connection_id = result.stdout.strip()
    assert connection_id.startswith("shopify_")
    _reads(shop, connection_id)
    (token,) = shop.sim.tokens
    for secret in (token, shop.sim.oauth.client_secret):
        assert secret not in result.stdout + result.stderr


def test_connect_completes_through_the_loopback_listener(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    merchant = Merchant(deliver=True)
    monkeypatch.setattr("webbrowser.open", merchant.open)
    result = _connect(shop, input="")
    for thread in merchant.threads:
        thread.join()
    assert result.exit_code == 0, result.stderr
    redirect = parse_qs(urlsplit(merchant.urls[0]).query)["redirect_uri"][0]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/oauth/callback", redirect)
    _reads(shop, result.stdout.strip())


def test_a_callback_tampered_on_the_way_is_refused_with_exit_3(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    merchant = Merchant(deliver=False)
    monkeypatch.setattr("webbrowser.open", merchant.open)

    class Tampered(Pasted):
        def readinto(self, buffer: Any) -> int:
            if self.data is None:
                self.data = (
                    re.sub(r"timestamp=(\d+)", r"timestamp=\g<1>0", self.merchant.callbacks[-1]) + "\n"
                ).encode()
            return super().readinto(buffer)

    result = _connect(shop, "--callback-url", "--redirect-uri", REGISTERED, input=io.BufferedReader(Tampered(merchant)))
    assert result.exit_code == 3, result.stderr
    assert "could not verify that this answer came from Shopify" in result.stderr
    assert shop.sim.oauth.exchanges == 0
