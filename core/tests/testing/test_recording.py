"""Recordings: secrets scrubbed before anything is written, and replayed in order."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from storelink import Secret
from storelink.testing import Recorder, ReplayMiss, ReplayTransport
from storelink.testing.recording import SCRUBBED

CANARY = "CANARY-7f3a9c1e5b2d4068"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJDQU5BUlkifQ.c2lnbmF0dXJl"


def leaky(request: httpx.Request) -> httpx.Response:
    """Answer like a careless platform: the key echoed in the body, cookies and headers."""
    return httpx.Response(
        200,
        json={
            "access_token": f"tok-{CANARY}",
            "refresh_token": f"r-{CANARY}",
            "session": {"id": CANARY},
            "profile": {"apiKey": CANARY, "note": f"issued for {CANARY}", "jwt_like": JWT},
            "keywords": ["kept"],
            "expires_in": 300,
        },
        headers=[("Set-Cookie", f"sid={CANARY}"), ("X-Session-Token", CANARY), ("X-Request-Id", "req-1")],
    )


async def record(path: Path, secrets: tuple[str, ...] = (CANARY,)) -> Recorder:
    recorder = Recorder(httpx.MockTransport(leaky), path, secrets=secrets)
    async with httpx.AsyncClient(transport=recorder) as client:
        await client.post(
            f"https://merchant:{CANARY}@shop.example.com/login?api_key={CANARY}&page=2",
            data={"grant_type": "client_credentials", "client_secret": CANARY},
            headers={"Authorization": f"Bearer {CANARY}", "Cookie": f"sid={CANARY}"},
        )
        await client.post("https://shop.example.com/orders", json={"reference": "r-1", "password": CANARY})
        await client.post("https://shop.example.com/blob", content=b"\xff\xfe" + CANARY.encode())
    recorder.save()
    return recorder


async def test_a_recorded_file_holds_no_canary(tmp_path: Path) -> None:
    path = tmp_path / "login.json"
    await record(path)
    text = path.read_text()
    assert CANARY not in text
    assert "CANARY" not in text
    assert JWT not in text


async def test_names_that_hold_secrets_are_scrubbed_and_others_kept(tmp_path: Path) -> None:
    path = tmp_path / "login.json"
    await record(path, secrets=())
    login, order, _blob = json.loads(path.read_text())["exchanges"]
    assert login["request"]["headers"]["authorization"] == SCRUBBED
    assert login["request"]["headers"]["cookie"] == SCRUBBED
    assert dict(login["request"]["body"]["form"]) == {"grant_type": "client_credentials", "client_secret": SCRUBBED}
    assert "api_key=%3Cscrubbed%3E&page=2" in login["request"]["url"]
    body = login["response"]["body"]["json"]
    assert (body["access_token"], body["refresh_token"], body["session"]) == (SCRUBBED, SCRUBBED, SCRUBBED)
    assert body["profile"]["apiKey"] == SCRUBBED
    assert body["keywords"] == ["kept"]
    assert body["expires_in"] == 300
    assert login["response"]["headers"]["set-cookie"] == SCRUBBED
    assert login["response"]["headers"]["x-session-token"] == SCRUBBED
    assert login["response"]["headers"]["x-request-id"] == "req-1"
    assert order["request"]["body"]["json"] == {"reference": "r-1", "password": SCRUBBED}


async def test_live_secrets_are_scrubbed_without_being_named(tmp_path: Path) -> None:
    held = Secret("CANARY-held-in-a-secret-0042")
    recorder = Recorder(
        httpx.MockTransport(lambda r: httpx.Response(200, text=f"hello {held.reveal()}")), tmp_path / "x.json"
    )
    async with httpx.AsyncClient(transport=recorder) as client:
        response = await client.get("https://shop.example.com/")
    assert held.reveal() in response.text  # the caller gets the response as received
    assert held.reveal() not in recorder.save().read_text()


def test_save_refuses_a_secret_that_survived_and_writes_nothing(tmp_path: Path) -> None:
    recorder = Recorder(httpx.MockTransport(leaky), tmp_path / "bad.json", secrets=[CANARY])
    recorder.exchanges.append({"request": {"url": f"https://x.example/{CANARY}"}})
    with pytest.raises(ValueError, match="survived scrubbing"):
        recorder.save()
    assert not (tmp_path / "bad.json").exists()
    assert list(tmp_path.iterdir()) == []


async def test_replay_serves_each_route_in_recorded_order(tmp_path: Path) -> None:
    pages = iter([{"page": 1}, {"page": 2}])
    recorder = Recorder(httpx.MockTransport(lambda r: httpx.Response(200, json=next(pages))), tmp_path / "p.json")
    async with httpx.AsyncClient(transport=recorder) as client:
        for _ in range(2):
            await client.get("https://shop.example.com/items", params={"limit": 2})
    replay = ReplayTransport.load(recorder.save())
    async with httpx.AsyncClient(transport=replay) as client:
        first = await client.get("https://shop.example.com/items?limit=2")
        second = await client.get("https://shop.example.com/items", params={"limit": 2})
        assert (first.json(), second.json()) == ({"page": 1}, {"page": 2})
        assert replay.unserved == 0
        with pytest.raises(ReplayMiss, match="GET /items"):
            await client.get("https://shop.example.com/items?limit=2")


def test_load_refuses_a_file_that_is_not_a_recording(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"items": []}))
    with pytest.raises(ValueError, match="not a storelink recording"):
        ReplayTransport.load(path)
