"""CSRF: every form post needs the token bound to this browser and this session."""

from __future__ import annotations

from typing import Any

import pytest

STEPS = [
    ("platform", {"platform": "mall"}),
    ("store", {"store_url": "other.example.com"}),
    ("credentials", {"credential.api_key": "good"}),
]


@pytest.fixture
async def session(walker: Any) -> tuple[str, str]:
    """A session at the credentials step, and this browser's CSRF token for it."""
    sid = await walker.to_credentials()
    page = await walker.get(f"/connect/{sid}/credentials")
    return sid, page.csrf


@pytest.mark.parametrize(("step", "data"), STEPS)
async def test_a_post_without_a_token_is_refused(walker: Any, hub: Any, session: Any, step: str, data: Any) -> None:
    sid, _ = session
    refused = await walker.post(f"/connect/{sid}/{step}", data, csrf=None)
    assert refused.response.status_code == 403
    assert "not sent from this page" in refused.response.text.replace("&#39;", "'")
    assert hub.validations == 0


@pytest.mark.parametrize("token", ["", "x", "A" * 43, "nTNlDjP1ezrivcHvXpptgbhO6coOBC3_L5qkCUpZWpM"])
@pytest.mark.parametrize(("step", "data"), STEPS)
async def test_a_post_with_a_wrong_token_is_refused(
    walker: Any, hub: Any, session: Any, step: str, data: Any, token: str
) -> None:
    sid, _ = session
    refused = await walker.post(f"/connect/{sid}/{step}", data, csrf=token)
    assert refused.response.status_code == 403
    assert hub.validations == 0


async def test_the_token_of_another_session_is_refused(walker: Any, kit: Any, hub: Any, session: Any) -> None:
    sid, _ = session
    other_sid = await walker.to_credentials()
    other_token = (await walker.get(f"/connect/{other_sid}/credentials")).csrf
    refused = await walker.post(f"/connect/{sid}/credentials", {"credential.api_key": kit.GOOD_KEY}, csrf=other_token)
    assert refused.response.status_code == 403
    assert hub.validations == 0


async def test_a_post_from_another_site_is_refused_even_with_the_token(walker: Any, kit: Any, session: Any) -> None:
    sid, token = session
    for site in ("cross-site", "same-site"):
        refused = await walker.client.post(
            f"/connect/{sid}/credentials",
            data={"credential.api_key": kit.GOOD_KEY, "csrf_token": token},
            headers={"sec-fetch-site": site},
        )
        assert refused.status_code == 403
    accepted = await walker.client.post(
        f"/connect/{sid}/credentials",
        data={"credential.api_key": kit.GOOD_KEY, "csrf_token": token},
        headers={"sec-fetch-site": "same-origin"},
    )
    assert accepted.status_code == 303


async def test_a_refused_post_changes_nothing(walker: Any, session: Any) -> None:
    sid, _ = session
    await walker.post(f"/connect/{sid}/store", {"store_url": "other.example.com"}, csrf="wrong")
    page = await walker.get(f"/connect/{sid}/credentials")
    assert "https://shop.example.com" in page.response.text


async def test_the_right_token_is_accepted(walker: Any, kit: Any, session: Any) -> None:
    sid, token = session
    done = await walker.post(f"/connect/{sid}/credentials", {"credential.api_key": kit.GOOD_KEY}, csrf=token)
    assert done.response.status_code == 303
