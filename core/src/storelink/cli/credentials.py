"""Reading credentials and settings from ``NAME=VALUE`` options, stdin, files and prompts.

The prompts come from the platform's credential schema: one per field, with its help
text, hidden input for secret fields. A value on the command line may be ``@-`` (read
it from stdin, so it stays out of the shell history and the process list) or ``@PATH``
(read it from a file). Error messages name the field, never its value.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from storelink.cli.exits import Failure
from storelink.credentials import Credentials, CredentialSchema
from storelink.errors import CredentialsError

__all__ = ["collect_credentials", "parse_credentials", "parse_pairs"]


def parse_pairs(pairs: Sequence[str], *, option: str, known: Sequence[str]) -> dict[str, str]:
    """Split ``NAME=VALUE`` options into a dict, refusing names not in *known*.

    A malformed pair is reported without its text: it may be a key typed without
    its ``NAME=``.
    """
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise click.BadParameter("expected NAME=VALUE (the value given is not shown)", param_hint=option)
        if name not in known:
            expected = ", ".join(known) or "none"
            raise click.BadParameter(f"unknown name {name!r}; expected one of: {expected}", param_hint=option)
        if name in values:
            raise click.BadParameter(f"{name!r} is given twice", param_hint=option)
        values[name] = value
    return values


def _read_value(name: str, value: str, stdin_used: list[str], option: str) -> str:
    if value == "@-":
        if stdin_used:
            raise click.BadParameter(
                f"only one value can come from stdin ({stdin_used[0]!r} already does)", param_hint=option
            )
        stdin_used.append(name)
        return sys.stdin.read().strip()
    if value.startswith("@") and len(value) > 1:
        path = Path(value[1:]).expanduser()
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise Failure(f"cannot read {name} from {path}: {exc.strerror or exc}") from None
    return value


def collect_credentials(
    schema: CredentialSchema, pairs: Sequence[str], *, platform: str, option: str = "--credential"
) -> dict[str, str]:
    """Return the value of every field of *schema*: from *pairs*, else by prompting.

    With no *option* (``--credential``, or ``--app-credential`` for a channel's app) at all
    every field is prompted; otherwise only the required fields that are missing are.
    """
    given = parse_pairs(pairs, option=option, known=[f.name for f in schema])
    stdin_used: list[str] = []
    values = {name: _read_value(name, value, stdin_used, option) for name, value in given.items()}
    for f in schema:
        if f.name in values or (given and not f.required):
            continue
        if f.help:
            click.secho(f"{f.label}: {f.help}", err=True, dim=True)
        try:
            values[f.name] = click.prompt(
                f.label,
                hide_input=f.secret,
                default=None if f.required else "",
                show_default=False,
                err=True,
            )
        except click.Abort:
            raise Failure(
                f"no value for {f.label} on {platform}; pass {option} {f.name}=VALUE "
                f"(or {f.name}=@- to read it from stdin)"
            ) from None
    return values


def parse_credentials(schema: CredentialSchema, values: dict[str, str]) -> Credentials:
    """Check *values* against *schema*; a malformed one is bad input (exit 2), naming the field."""
    try:
        return schema.parse(values)
    except CredentialsError as exc:
        where = f" (credential {exc.field!r})" if exc.field else ""
        raise Failure(f"{exc.message.removesuffix('.')}{where}; enter it again") from None
