"""The simulator's SCIM filters (``q`` with ``queryFormat=SCIM``)."""

from __future__ import annotations

import pytest

from storelink_occ.simulator.scim import ScimError, parse_filter


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('state eq "SUBMITTED"', ["a"]),
        ('state ne "SUBMITTED"', ["b", "c"]),
        ('profile.email co "@example"', ["a", "b"]),
        ('id sw "b" or id ew "c"', ["b", "c"]),
        ("total gt 10 and total le 30", ["b"]),
        ("not (total lt 20)", ["b", "c"]),
        ('(state eq "X" or state eq "SUBMITTED") and total ge 0', ["a"]),
        ('submittedDate lt "2024-01-02T00:00:00Z"', ["a"]),
        ("note pr", ["c"]),
        ("note eq null", ["a", "b"]),
        ("flag eq true", ["b"]),
        ('ref eq "quote\\"d"', ["c"]),
        ('STATE eq "SUBMITTED"', []),
        ('state EQ "SUBMITTED" AND total Lt 20', ["a"]),
    ],
)
def test_scim_filters_select_what_they_say(query: str, expected: list[str]) -> None:
    orders = [
        {
            "id": "a",
            "state": "SUBMITTED",
            "total": 5,
            "profile": {"email": "a@example.com"},
            "note": None,
            "submittedDate": "2024-01-01T10:00:00.000Z",
            "flag": False,
        },
        {
            "id": "b",
            "state": "PROCESSING",
            "total": 20,
            "profile": {"email": "b@example.org"},
            "submittedDate": "2024-01-03T10:00:00.000Z",
            "flag": True,
        },
        {
            "id": "c",
            "state": "FAILED",
            "total": 30.5,
            "note": "late",
            "ref": 'quote"d',
            "submittedDate": "2024-01-04T10:00:00.000Z",
        },
    ]
    predicate = parse_filter(query)
    assert [o["id"] for o in orders if predicate(o)] == expected


@pytest.mark.parametrize(
    "query", ["", "state", "state eq", 'state like "x"', '(state eq "x"', 'state eq "x")', "a eq b", "@"]
)
def test_malformed_scim_filters_are_refused(query: str) -> None:
    with pytest.raises(ScimError):
        parse_filter(query)
