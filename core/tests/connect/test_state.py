"""The connect session's state (docs/connect.md, "Security properties"): missing, wrong, reused, expired, other browser.

Each case runs 50 times on fresh sessions; every one must be refused, and no refusal
redirects anywhere.
"""

from __future__ import annotations

from typing import Any

TRIALS = 50


async def _opened(walker: Any) -> dict[str, Any]:
    started = await walker.start()
    assert (await walker.open(started["url"])).status_code == 303
    return started


async def test_a_link_without_its_ticket_is_refused(walker: Any, new_client: Any) -> None:
    refused = 0
    async with new_client() as stranger:
        for _ in range(TRIALS):
            started = await walker.start()
            response = await stranger.get(f"/connect/{started['id']}")
            refused += response.status_code == 400 and "location" not in response.headers
    assert refused == TRIALS


async def test_a_wrong_ticket_is_refused(walker: Any) -> None:
    refused = 0
    for _ in range(TRIALS):
        started = await walker.start()
        other = await walker.start()
        wrong_ticket = other["url"].split("ticket=")[1]
        response = await walker.open(f"/connect/{started['id']}?ticket={wrong_ticket}")
        refused += response.status_code == 404 and "location" not in response.headers
    assert refused == TRIALS


async def test_an_unknown_session_is_refused(walker: Any) -> None:
    refused = 0
    for i in range(TRIALS):
        response = await walker.open(f"/connect/no-such-session-{i}?ticket=abc")
        refused += response.status_code == 404
    assert refused == TRIALS


async def test_a_link_used_once_is_refused_the_second_time(walker: Any, new_client: Any) -> None:
    refused = 0
    async with new_client() as second_browser:
        for _ in range(TRIALS):
            started = await _opened(walker)
            again_here = await walker.open(started["url"])
            again_there = await second_browser.get(started["url"])
            refused += all(r.status_code == 410 and "location" not in r.headers for r in (again_here, again_there))
    assert refused == TRIALS


async def test_a_spent_session_is_refused_at_every_step(walker: Any, kit: Any) -> None:
    refused = 0
    for i in range(TRIALS):
        sid = await walker.to_credentials(state=f"s{i}")
        page = await walker.get(f"/connect/{sid}/credentials")
        done = await walker.post(f"/connect/{sid}/credentials", {"credential.api_key": kit.GOOD_KEY}, csrf=page.csrf)
        assert done.response.status_code == 303
        replay = await walker.post(f"/connect/{sid}/credentials", {"credential.api_key": kit.GOOD_KEY}, csrf=page.csrf)
        steps = [await walker.get(f"/connect/{sid}/{step}") for step in ("platform", "store", "credentials")]
        responses = [replay.response, *(s.response for s in steps)]
        refused += all(r.status_code == 410 and "location" not in r.headers for r in responses)
    assert refused == TRIALS


async def test_an_expired_session_is_refused(walker: Any, kit: Any, clock: Any) -> None:
    refused = 0
    for _ in range(TRIALS):
        unopened = await walker.start()
        sid = await walker.to_credentials()
        page = await walker.get(f"/connect/{sid}/credentials")
        clock.now += 600
        late_open = await walker.open(unopened["url"])
        late_post = await walker.post(
            f"/connect/{sid}/credentials", {"credential.api_key": kit.GOOD_KEY}, csrf=page.csrf
        )
        responses = [late_open, late_post.response]
        refused += all(r.status_code == 410 and "expired" in r.text for r in responses)
    assert refused == TRIALS


async def test_a_session_is_usable_until_just_before_it_expires(walker: Any, kit: Any, clock: Any) -> None:
    sid = await walker.to_credentials()
    clock.now += 599
    assert (await walker.submit_key(sid, kit.GOOD_KEY)).response.status_code == 303


async def test_a_session_from_another_browser_is_refused(walker: Any, kit: Any, new_client: Any) -> None:
    refused = 0
    async with new_client() as other_browser:
        other = kit.Walker(other_browser)
        for _ in range(TRIALS):
            sid = await walker.to_credentials()
            mine = await walker.get(f"/connect/{sid}/credentials")
            own_sid = await other.to_credentials()
            own_page = await other.get(f"/connect/{own_sid}/credentials")
            attempts = [
                (await other.get(f"/connect/{sid}/credentials")).response,
                (await other.post(f"/connect/{sid}/store", {"store_url": "evil.example"}, csrf=mine.csrf)).response,
                (
                    await other.post(
                        f"/connect/{sid}/credentials", {"credential.api_key": kit.GOOD_KEY}, csrf=own_page.csrf
                    )
                ).response,
            ]
            refused += all(r.status_code == 403 and "location" not in r.headers for r in attempts)
    assert refused == TRIALS


async def test_refusals_change_nothing(walker: Any, kit: Any, hub: Any, new_client: Any) -> None:
    sid = await walker.to_credentials()
    async with new_client() as other_browser:
        await other_browser.post(f"/connect/{sid}/credentials", data={"credential.api_key": kit.GOOD_KEY})
    assert hub.validations == 0
    assert (await walker.submit_key(sid, kit.GOOD_KEY)).response.status_code == 303
