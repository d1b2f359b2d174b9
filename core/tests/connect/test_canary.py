"""The canary key never shows up in a response body, a header, a URL or a log record (T7.4).

Every flow of the pages and the API runs with keys that contain a canary, the root
logger at DEBUG; then every artifact is searched for the canary, raw, URL-encoded and
base64-encoded. A planted leak proves the scan finds what it looks for.
"""

from __future__ import annotations

import base64
import logging
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest


class Artifacts:
    """Everything the flows produced that must not hold a secret."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.responses = 0

    async def record(self, response: httpx.Response) -> None:
        await response.aread()
        self.responses += 1
        self.texts.append(str(response.request.url))
        self.texts.append(response.text)
        self.texts.extend(f"{name}: {value}" for name, value in response.headers.multi_items())


def _forms(secret: str) -> list[str]:
    encoded = secret.encode()
    return [
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        base64.b64encode(encoded).decode().rstrip("="),
        base64.urlsafe_b64encode(encoded).decode().rstrip("="),
    ]


def _leaks(texts: list[str], secrets: tuple[str, ...]) -> int:
    """Count the texts that hold any secret in any of its forms (each key, and the canary in it)."""
    forms = [form for secret in secrets for form in _forms(secret)]
    return sum(any(form in text for form in forms) for text in texts)


def _log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    texts = []
    for record in caplog.records:
        texts.append(record.getMessage())
        texts.append(repr(record.args))
        texts.append(record.exc_text or "")
        texts.append(repr(vars(record)))
    return [*texts, caplog.text]


async def _every_flow(app: Any, kit: Any, artifacts: Artifacts) -> None:
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        event_hooks={"response": [artifacts.record]},
    )
    async with client:
        walker = kit.Walker(client)
        for key in (*kit.ALL_KEYS, f"with space {kit.CANARY}"):
            sid = await walker.to_credentials()
            await walker.post(f"/connect/{sid}/credentials", {"credential.api_key": key}, csrf="forged")
            result = await walker.submit_key(sid, key, account="acme")
            if result.response.status_code == 422:
                await walker.submit_key(sid, kit.GOOD_KEY)
            await walker.get(f"/connect/{sid}/credentials")
            body = {"platform": "shop", "store_url": "shop.example.com", "credentials": {"api_key": key}}
            await client.post("/api/connections", json=body, headers={"authorization": f"Bearer {kit.API_TOKEN}"})
            await client.post("/api/connections", json=body)
            unknown = {**body, "credentials": {"api_key": key, "unknown": key}}
            await client.post("/api/connections", json=unknown, headers={"authorization": f"Bearer {kit.API_TOKEN}"})


async def test_the_canary_appears_nowhere(app: Any, kit: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    artifacts = Artifacts()
    await _every_flow(app, kit, artifacts)
    logs = _log_texts(caplog)
    assert artifacts.responses > 100
    assert "connected shop at https://shop.example.com" in caplog.text, "the app's log records were not captured"
    secrets = (kit.CANARY, *kit.ALL_KEYS)
    assert _leaks(artifacts.texts, secrets) == 0, "the canary is in a response"
    assert _leaks(logs, secrets) == 0, "the canary is in a log record"


def test_the_scan_finds_a_planted_leak(kit: Any) -> None:
    """The scan has teeth: a key in a log line, URL-encoded in a URL or base64-encoded is found."""
    planted = [
        f"oops {kit.GOOD_KEY}",
        f"https://x.test/?k={quote(kit.GOOD_KEY, safe='')}",
        base64.b64encode(kit.REJECTED_KEY.encode()).decode(),
        "nothing here",
    ]
    assert _leaks(planted, (kit.CANARY, *kit.ALL_KEYS)) == 3
