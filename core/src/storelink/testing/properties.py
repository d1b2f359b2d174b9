"""Generated store addresses: the properties every ``normalize_store_url`` must have.

Two families of inputs, drawn with Hypothesis:

- what a merchant pastes for a store the plugin accepts (taken from its golden cases):
  any case, surrounding blanks, a trailing slash, an admin path. It must normalise to
  the same store URL. A platform whose golden cases accept a store under a path (a
  self-hosted install, ``https://example.com/shop``) keeps paths, so for it only
  trailing slashes are appended. With ``http://``, a query, a fragment or user info added, the
  address may also be refused, but never kept as given;
- any text at all: it is refused with :class:`~storelink.StoreURLError` or accepted,
  and what is accepted normalises to itself (idempotent).

Hypothesis is imported only when these checks run.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from storelink.errors import StoreURLError
from storelink.plugins import Platform
from storelink.testing.checks import ContractViolation, UrlCase, check_idempotent, normalize_or_error

__all__ = ["check_url_properties"]

_PATHS = ("", "/", "//", "/admin", "/admin/", "/store/en/home.html", "/a/b/c/")
_OPTIONAL = ("", "?utm_source=mail", "?next=/admin&x=1", "#top")


_TRAILING = ("", "/", "//")


def _paste(origin: str, scheme: str, upper: bool, path: str, extra: str, blanks: str, userinfo: str) -> str:
    parts = urlsplit(origin)
    host = parts.netloc.upper() if upper else parts.netloc
    return f"{blanks}{scheme}{userinfo}{host}{parts.path}{path}{extra}{blanks[::-1]}"


def check_url_properties(platform: Platform, cases: Sequence[UrlCase], examples: int = 200) -> None:
    """Check the normaliser's properties on *examples* generated addresses of each family.

    :param cases: The plugin's golden cases; the accepted public ones seed the first family.
    """
    from hypothesis import given, settings
    from hypothesis import strategies as st

    origins = sorted({c.expected for c in cases if c.expected and not c.allow_loopback})
    if not origins:
        raise ContractViolation(
            "normalize_store_url", "golden cases", "no golden case accepts a public store", "add one to url_cases"
        )
    keeps_paths = any(urlsplit(origin).path for origin in origins)
    run = settings(max_examples=examples, deadline=None, database=None)

    @run
    @given(
        origin=st.sampled_from(origins),
        scheme=st.sampled_from(("", "https://", "HTTPS://", "Https://", "http://")),
        upper=st.booleans(),
        path=st.sampled_from(_TRAILING if keeps_paths else _PATHS),
        extra=st.sampled_from(_OPTIONAL),
        blanks=st.sampled_from(("", " ", "\t", " \n")),
        userinfo=st.sampled_from(("", "", "", "merchant@", "merchant:hunter22@")),
    )
    def pasted(origin: str, scheme: str, upper: bool, path: str, extra: str, blanks: str, userinfo: str) -> None:
        raw = _paste(origin, scheme, upper, path, extra, blanks, userinfo)
        result = normalize_or_error(platform, raw, False)
        lenient = scheme == "http://" or extra or userinfo
        if isinstance(result, StoreURLError):
            if not lenient:
                raise ContractViolation(
                    "normalize_store_url",
                    "accept what merchants paste",
                    f"refused {raw!r} ({result}), a pasted form of {origin!r}",
                    "accept any case, surrounding blanks, trailing slashes and paths, and drop them",
                )
            return
        if result.url != origin:
            raise ContractViolation(
                "normalize_store_url",
                "accept what merchants paste",
                f"made {result.url!r} of {raw!r}, a pasted form of {origin!r}",
                f"return {origin!r}",
            )

    @run
    @given(
        raw=st.one_of(
            st.text(max_size=60), st.from_regex(r"\A\s*([a-zA-Z]{2,6}:/{0,3})?[^/?#\s]{0,30}([/?#].{0,20})?\Z")
        )
    )
    def any_text(raw: str) -> None:
        result = normalize_or_error(platform, raw, False)
        if not isinstance(result, StoreURLError):
            check_idempotent(platform, result, False)

    pasted()
    any_text()
