"""The contract's pure checks: platform info, credential schema, capabilities, store URLs.

Each check raises :class:`ContractViolation` naming the hook, the rule and what the
plugin author should change. None of them makes a request: they run on the loaded
:class:`~storelink.Platform` alone. The checks that need the core's HTTP machinery are
in :mod:`storelink.testing.live`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from attrs import frozen

from storelink.errors import PluginError, StoreURLError
from storelink.models import CAPABILITY_HOOKS, PlatformInfo, StoreURL
from storelink.plugins import Platform
from storelink.testing.validity import model_problems

__all__ = [
    "ContractViolation",
    "UrlCase",
    "check_capabilities",
    "check_models",
    "check_platform_info",
    "check_url_cases",
    "normalize_or_error",
]


class ContractViolation(AssertionError):
    """A plugin broke a rule of the platform contract.

    The message reads ``hook: what happened; what to do``.

    :param hook: The hook at fault (``fetch_products``).
    :param rule: The rule, in a few words (``pages end``).
    :param problem: What the plugin did.
    :param advice: What to change so the rule holds.
    """

    def __init__(self, hook: str, rule: str, problem: str, advice: str) -> None:
        super().__init__(f"{hook}: {problem}; {advice}")
        self.hook = hook
        self.rule = rule
        self.problem = problem
        self.advice = advice


@frozen
class UrlCase:
    """A store address as a merchant would type it, and what the normaliser must make of it.

    :param raw: The text as typed.
    :param expected: The canonical origin, or ``None`` when the address must be refused
        with :class:`~storelink.StoreURLError`.
    :param allow_loopback: Normalise under a development egress policy.
    """

    raw: str
    expected: str | None
    allow_loopback: bool = False


def check_models(hook: str, objects: Iterable[object], where: str = "item") -> None:
    """Check that every object *hook* returned is a valid, fully typed model.

    :param where: How to name an object in the message (``page 2 item``).
    """
    for i, obj in enumerate(objects):
        problems = model_problems(obj)
        if problems:
            ident = getattr(obj, "id", None)
            label = f"{where} {i}" + (f" (id {ident!r})" if isinstance(ident, str) else "")
            raise ContractViolation(
                hook,
                "valid models",
                f"{label} is not a valid {type(obj).__name__}: {problems[0]}",
                "map the platform's field to the model's type in the mapping function, or leave it out",
            )


def check_platform_info(platform: Platform, slug: str) -> PlatformInfo:
    """Check ``platform_info()``: its slug, guide, audiences, and that its schemas render."""
    info = platform.info
    problems = model_problems(info)
    if problems:
        raise ContractViolation(
            "platform_info", "valid info", problems[0], "return a PlatformInfo built from valid values"
        )
    if info.slug != slug:
        raise ContractViolation(
            "platform_info",
            "slug",
            f"says slug {info.slug!r} but the plugin is installed as {slug!r}",
            "use the entry-point name as PlatformInfo.slug",
        )
    if not info.setup_guide:
        raise ContractViolation(
            "platform_info",
            "setup guide",
            "has no setup_guide",
            "tell the merchant, one step per line, where to find the key and how to revoke it",
        )
    if len(set(info.audiences)) != len(info.audiences):
        raise ContractViolation(
            "platform_info", "audiences", f"repeats an audience in {info.audiences}", "list each once"
        )
    if not info.credential_schema.fields:
        raise ContractViolation(
            "platform_info", "credential schema", "declares no credential field", "declare what the merchant enters"
        )
    for name, schema in (("credential_schema", info.credential_schema), ("settings_schema", info.settings_schema)):
        try:
            rendered = json.loads(json.dumps(schema.to_json_schema()))
        except (TypeError, ValueError) as exc:
            raise ContractViolation(
                "platform_info", "schema renders", f"{name} does not render to JSON Schema: {exc}", "use text fields"
            ) from exc
        if sorted(rendered["properties"]) != sorted(f.name for f in schema.fields):
            raise ContractViolation(
                "platform_info", "schema renders", f"{name} lost fields in its JSON Schema", "give each field a name"
            )
    for field in info.credential_schema.fields:
        if not field.label or not field.help:
            raise ContractViolation(
                "platform_info",
                "credential schema",
                f"credential field {field.name!r} has no {'label' if not field.label else 'help'}",
                "say what the field is and where the merchant finds it",
            )
    try:
        StoreURL.parse(info.store_url_example)
    except ValueError as exc:
        raise ContractViolation(
            "platform_info", "store URL example", str(exc), "give store_url_example as https://host"
        ) from exc
    return info


_OAUTH_HOOKS = ("build_authorization_url", "verify_callback", "complete_authorization")


def check_capabilities(platform: Platform) -> None:
    """Check that the declared capabilities (and OAuth flow) match the hooks the plugin implements."""
    for hook in ("authenticate", "check_access"):
        if not platform.implements(hook):
            raise ContractViolation(hook, "required hooks", "is not implemented", "every platform must implement it")
    oauth = platform.info.oauth is not None
    for hook in _OAUTH_HOOKS:
        required = hook != "verify_callback"
        if oauth and required and not platform.implements(hook):
            raise ContractViolation(
                hook,
                "OAuth hooks",
                "is not implemented, but platform_info() declares an OAuth flow (PlatformInfo.oauth)",
                "implement build_authorization_url and complete_authorization, or drop PlatformInfo.oauth",
            )
        if hook == "build_authorization_url" and platform.info.approval is not None:
            continue  # an approval flow builds its URL with it too
        if not oauth and platform.implements(hook):
            raise ContractViolation(
                hook,
                "OAuth hooks",
                "is implemented, but platform_info() declares no OAuth flow, so the core never calls it",
                "declare PlatformInfo.oauth=OAuthFlow(...), or remove the hook",
            )
    approval = platform.info.approval is not None
    for hook in ("build_authorization_url", "receive_credentials"):
        if approval != platform.implements(hook) and (approval or hook == "receive_credentials"):
            raise ContractViolation(
                hook,
                "approval hooks",
                "does not match platform_info(): an approval flow (PlatformInfo.approval) needs "
                "build_authorization_url and receive_credentials, and receive_credentials needs the flow",
                "implement both hooks with PlatformInfo.approval, or neither without it",
            )
    declared = platform.info.capabilities
    for capability, hooks in CAPABILITY_HOOKS.items():
        for hook in hooks:
            if capability in declared and not platform.implements(hook):
                raise ContractViolation(
                    hook,
                    "capabilities match hooks",
                    f"is not implemented, but platform_info() declares Capability.{capability.name}",
                    f"implement {' and '.join(hooks)}, or drop the capability",
                )
            if capability not in declared and platform.implements(hook):
                raise ContractViolation(
                    hook,
                    "capabilities match hooks",
                    f"is implemented, but platform_info() does not declare Capability.{capability.name}",
                    "declare the capability, or remove the hook",
                )


def normalize_or_error(platform: Platform, raw: str, allow_loopback: bool) -> StoreURL | StoreURLError:
    """Return the normalised *raw*, or the :class:`StoreURLError` refusing it.

    :raises ContractViolation: The normaliser raised anything else, or built an invalid URL.
    """
    try:
        return platform.normalize_store_url(raw, allow_loopback=allow_loopback)
    except StoreURLError as exc:
        return exc
    except PluginError as exc:
        cause = exc.__cause__
        if isinstance(cause, ValueError) and str(cause).startswith("store URL must"):
            raise ContractViolation(
                "normalize_store_url",
                "origin only",
                f"built an invalid StoreURL from {raw!r}: {cause}",
                "return only https://host[:port]: drop the path, query, fragment and user info",
            ) from exc
        raise ContractViolation(
            "normalize_store_url",
            "only StoreURLError",
            f"failed on {raw!r}: {exc}",
            "raise StoreURLError with a message the merchant can act on",
        ) from exc


def check_url_case(platform: Platform, case: UrlCase) -> None:
    """Check one golden case, then that the result normalises to itself."""
    result = normalize_or_error(platform, case.raw, case.allow_loopback)
    if case.expected is None:
        if not isinstance(result, StoreURLError):
            raise ContractViolation(
                "normalize_store_url", "golden cases", f"accepted {case.raw!r} as {result.url!r}", "refuse it"
            )
        return
    if isinstance(result, StoreURLError):
        raise ContractViolation(
            "normalize_store_url", "golden cases", f"refused {case.raw!r} ({result})", f"return {case.expected!r}"
        )
    if result.url != case.expected:
        raise ContractViolation(
            "normalize_store_url",
            "golden cases",
            f"made {result.url!r} of {case.raw!r}",
            f"return {case.expected!r}",
        )
    check_idempotent(platform, result, case.allow_loopback)


def check_idempotent(platform: Platform, url: StoreURL, allow_loopback: bool) -> None:
    """Check that normalising *url* again returns it unchanged."""
    again = normalize_or_error(platform, url.url, allow_loopback)
    if again != url:
        shown = f"refused it ({again})" if isinstance(again, StoreURLError) else f"made {again.url!r}"
        raise ContractViolation(
            "normalize_store_url", "idempotent", f"normalising its own result {url.url!r} {shown}", "return it as is"
        )


def check_url_cases(platform: Platform, cases: Sequence[UrlCase]) -> None:
    """Check the golden cases a plugin supplies: at least one accepted and one refused."""
    if not any(c.expected for c in cases) or not any(c.expected is None for c in cases):
        raise ContractViolation(
            "normalize_store_url",
            "golden cases",
            "the test supplies no accepted or no refused golden case",
            "list in url_cases both addresses merchants paste and ones to refuse",
        )
    for case in cases:
        check_url_case(platform, case)
