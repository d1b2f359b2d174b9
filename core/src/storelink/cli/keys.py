"""``storelink keys list | rotate | retire``: the encryption keys of stored credentials.

The key ring comes from ``STORELINK_KEYS`` when it is set, otherwise from the key file
of the embedded default (``keys`` in the user data directory, mode 0600). With the key
file, ``rotate`` adds a new active key to it and rewraps every credential; with
``STORELINK_KEYS`` you put the new key first in the variable yourself, and ``rotate``
rewraps every credential to it.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from storelink.cli.exits import Failure
from storelink.cli.output import Column, json_option
from storelink.cli.state import CliState, open_hub, pass_state, run
from storelink.vault import ENV_VAR, KeyUsage

__all__ = ["keys"]

_COLUMNS: tuple[Column[KeyUsage], ...] = (
    Column("key id", lambda k: k.key_id, no_wrap=True),
    Column("active", lambda k: k.active),
    Column("in key ring", lambda k: k.in_ring),
    Column("credentials", lambda k: k.rows, "right"),
)


def _key_file() -> Path | None:
    """Return the key file in use, or ``None`` when the ring comes from ``STORELINK_KEYS``.

    :raises ConfigurationError: ``STORELINK_KEYS`` is set but empty.
    """
    from storelink.hub import default_directory
    from storelink.vault.keyring import keys_in_env

    path = default_directory() / "keys"
    return None if keys_in_env(path) else path


def _source(key_file: Path | None) -> str:
    return f"key file {key_file}" if key_file else ENV_VAR


_ROTATION = """\b
Rotation, with the embedded key file:
  storelink keys rotate      # a new active key; every credential rewrapped
  storelink keys list        # the old key now seals 0 credentials
  storelink keys retire k1   # drop it from the key file
With STORELINK_KEYS: put a new "kid:base64key" first in it, run
`storelink keys rotate`, then remove the old entry once `keys list` shows 0.
"""


@click.group(epilog=_ROTATION)
def keys() -> None:
    """List, rotate and retire the keys that encrypt stored credentials."""


@keys.command("list")
@json_option
@pass_state
def list_(state: CliState, as_json: bool) -> None:
    """List the keys of the ring, and any other key id stored credentials use."""
    from storelink.vault import list_keys

    out = state.output(as_json)

    async def go() -> list[KeyUsage]:
        async with open_hub(state) as hub:
            return await list_keys(hub.store, hub.vault.keyring)

    out.records(run(go()), _COLUMNS, title=f"Keys ({_source(_key_file())})")


@keys.command()
@click.option(
    "--batch", type=click.IntRange(min=1), default=500, show_default=True, metavar="N", help="Credentials per query."
)
@json_option
@pass_state
def rotate(state: CliState, batch: int, as_json: bool) -> None:
    """Make a new key active and re-encrypt every stored credential with it.

    Resumable: if it stops part-way, run it again. The previous key stays in the ring
    (it still decrypts) until you retire it.
    """
    from storelink.vault import count_envelopes, rewrap, rotate_keys

    out = state.output(as_json)
    key_file = _key_file()

    async def go() -> dict[str, object]:
        async with open_hub(state) as hub:
            if key_file is None:
                done = await rewrap(hub.store, hub.vault, batch=batch)
                counts = await count_envelopes(hub.store, batch=batch)
                return {"active_key_id": hub.vault.keyring.active_id, "rewrapped": done, "remaining": counts}
            report = await rotate_keys(hub.store, key_file, batch=batch)
            return {
                "active_key_id": report.new_key_id,
                "previous_key_id": report.previous_key_id,
                "rewrapped": report.rewrapped,
                "remaining": dict(report.remaining),
            }

    result = run(go())
    if out.json:
        out.json_line(result)
        return
    active = result["active_key_id"]
    if key_file is None and not result["rewrapped"]:
        out.note(
            f"Every stored credential is already sealed with {active}, the first key of {ENV_VAR}. "
            f'To rotate, put a new "kid:base64key" first in {ENV_VAR} and run this again.'
        )
        return
    out.note(
        Text.assemble(("Rotated  ", "bold green"), f"{result['rewrapped']} credential(s) now sealed with {active}")
    )
    if key_file is None:
        out.note(f"Once `storelink keys list` shows 0 for the old key, remove it from {ENV_VAR}.")
    else:
        previous = result["previous_key_id"]
        out.note(f"The old key {previous} still decrypts; retire it: storelink keys retire {previous}")


@keys.command()
@click.argument("key_id")
@pass_state
def retire(state: CliState, key_id: str) -> None:
    """Remove a key from the key file; refused while a stored credential still uses it."""
    from storelink.vault import retire_key

    key_file = _key_file()
    if key_file is None:
        raise Failure(f"the keys come from {ENV_VAR}: remove {key_id!r} from the variable itself")

    async def go() -> None:
        async with open_hub(state) as hub:
            ring = hub.vault.keyring
            if key_id not in ring:
                raise Failure(f"there is no key {key_id!r} in {key_file} (its keys: {', '.join(ring.ids)})")
            await retire_key(hub.store, key_file, key_id)

    run(go())
    state.output().note(Text.assemble(("Retired  ", "bold"), f"key {key_id} removed from {key_file}"))
