"""``storelink connect`` and ``storelink connections ...``: prompts, validation, exit codes."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from .conftest import FOREIGN_KEY, Cli, Sim, one_line_error


def test_connect_reads_the_key_from_stdin_and_prints_the_connection_id(run_cli: Cli, occ: Sim) -> None:
    result = run_cli(
        "connect", "occ", "--store-url", occ.url.upper() + "/", "-c", "application_key=@-", input=occ.key + "\n"
    )
    assert result.exit_code == 0, result.stderr
    connection_id = result.stdout.strip()
    assert connection_id.startswith("occ_")
    assert f"Store URL  {occ.url}" in result.stderr
    assert "ok  create_orders" in result.stderr
    assert occ.key not in result.stdout + result.stderr


def test_connect_prompts_for_the_key_with_hidden_input(run_cli: Cli, occ: Sim) -> None:
    result = run_cli("connect", "occ", "--store-url", occ.url, "--label", "EU store", input=occ.key + "\n")
    assert result.exit_code == 0, result.stderr
    assert "Application Key:" in result.stderr
    assert occ.key not in result.stdout + result.stderr
    shown = run_cli.json_lines("connections", "show", result.stdout.strip())
    assert shown[0]["label"] == "EU store"
    assert shown[0]["status"] == "active"


def test_connect_takes_the_key_from_a_file_and_settings(run_cli: Cli, occ: Sim, tmp_path: Path) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text(occ.key + "\n")
    result = run_cli(
        "connect", "occ", "--store-url", occ.url, "-c", f"application_key=@{key_file}", "--setting", "site_id=siteUS"
    )
    assert result.exit_code == 0, result.stderr
    (conn,) = run_cli.json_lines("connections", "list")
    assert conn["settings"] == {"site_id": "siteUS"}


def test_connect_json_prints_the_connection(run_cli: Cli, occ: Sim) -> None:
    result = run_cli("connect", "occ", "--store-url", occ.url, "-c", f"application_key={occ.key}", "--json")
    assert result.exit_code == 0, result.stderr
    conn = json.loads(result.stdout)
    assert conn["platform"] == "occ"
    assert conn["store_url"] == occ.url
    assert conn["status"] == "active"
    assert occ.key not in result.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (["nope", "--store-url", "https://x.example.com"], None, "no platform 'nope' is installed"),
        (["occ"], None, "Missing option '--store-url'"),
        (["occ", "--store-url", "ftp://shop.example.com"], None, "must start with https://"),
        (["occ", "--store-url", "https://user:pw@shop.example.com"], None, "user name or password"),
        (["occ", "--store-url", "{url}", "-c", "application_key=not-a-key"], None, "not an OCC Application Key"),
        (["occ", "--store-url", "{url}", "-c", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"], None, "expected NAME=VALUE"),
        (["occ", "--store-url", "{url}", "-c", "password=x"], None, "unknown name 'password'"),
        (["occ", "--store-url", "{url}", "-c", "application_key=@/nonexistent/key"], None, "cannot read"),
        (["occ", "--store-url", "{url}", "--setting", "colour=red"], "{key}", "unknown name 'colour'"),
        (["occ", "--store-url", "{url}", "--setting", "currency=dollars"], "{key}", "setting 'currency'"),
        (["occ", "--store-url", "{url}"], "", "no value for Application Key"),
    ],
)
def test_connect_refuses_bad_input_with_exit_code_2(
    run_cli: Cli, occ: Sim, args: list[str], stdin: str | None, expected: str
) -> None:
    args = [a.format(url=occ.url) for a in args]
    line = one_line_error(run_cli("connect", *args, input=stdin.format(key=occ.key) if stdin else stdin), 2)
    assert expected in line
    assert "eyJhbGciOiJIUzI1NiJ9" not in line


def test_a_rejected_key_exits_3_and_is_never_echoed(run_cli: Cli, occ: Sim) -> None:
    result = run_cli("connect", "occ", "--store-url", occ.url, "-c", "application_key=@-", input=FOREIGN_KEY)
    line = one_line_error(result, 3)
    assert "rejected" in line
    assert "CANARY" not in result.stdout + result.stderr
    assert run_cli.json_lines("connections", "list") == []


def test_an_unreachable_store_exits_4(run_cli: Cli, occ: Sim) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_cli("connect", "occ", "--store-url", f"http://127.0.0.1:{port}", "-c", f"application_key={occ.key}")
    assert "try again" in one_line_error(result, 4)


def test_loopback_stores_are_refused_without_the_development_switch(
    run_cli: Cli, occ: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STORELINK_ALLOW_LOOPBACK")
    result = run_cli("connect", "occ", "--store-url", occ.url, "-c", f"application_key={occ.key}")
    one_line_error(result, 2)


def test_list_show_and_check_a_connection(run_cli: Cli, occ: Sim) -> None:
    connection_id = run_cli.connect(occ)
    listed = run_cli("connections", "list")
    assert connection_id in listed.stdout
    assert "active" in listed.stdout
    shown = run_cli("connections", "show", connection_id)
    assert shown.exit_code == 0
    assert occ.url in shown.stdout
    checked = run_cli("connections", "check", connection_id)
    assert checked.exit_code == 0
    assert "shipping_methods" in checked.stdout
    report = run_cli.json_lines("connections", "check", connection_id)
    assert {r["capability"] for r in report} >= {"products", "orders", "create_orders"}
    assert all(r["ok"] for r in report)


def test_an_empty_list_says_how_to_connect(run_cli: Cli) -> None:
    result = run_cli("connections", "list")
    assert result.exit_code == 0
    assert "storelink connect" in result.stderr
    assert run_cli("connections", "list", "--status", "bogus").exit_code == 2


@pytest.mark.parametrize("command", ["show", "check", "reconnect", "remove"])
def test_an_unknown_connection_id_exits_2(run_cli: Cli, command: str) -> None:
    extra = ["--yes"] if command == "remove" else ["-c", "application_key=x.y.z"] if command == "reconnect" else []
    line = one_line_error(run_cli("connections", command, "occ_missing", *extra), 2)
    assert "no connection 'occ_missing'" in line
    assert "storelink connections list" in line


def test_a_revoked_key_exits_3_then_reconnect_restores_the_connection(run_cli: Cli, own_occ: Sim) -> None:
    connection_id = run_cli.connect(own_occ)
    own_occ.sim.revoke_credentials(own_occ.credentials)

    line = one_line_error(run_cli("connections", "check", connection_id), 3)
    assert "rejected" in line
    (conn,) = run_cli.json_lines("connections", "show", connection_id)
    assert conn["status"] == "revoked"
    refused = one_line_error(run_cli("products", connection_id), 3)
    assert re.search(rf"is revoked \(.*\); reconnect it: storelink connections reconnect {connection_id}$", refused)

    one_line_error(run_cli("connections", "reconnect", connection_id, "-c", "application_key=@-", input=FOREIGN_KEY), 3)
    fresh = own_occ.sim.issue_credentials()["application_key"]
    result = run_cli("connections", "reconnect", connection_id, input=fresh + "\n")
    assert result.exit_code == 0, result.stderr
    assert "Reconnected" in result.stderr
    (conn,) = run_cli.json_lines("connections", "show", connection_id)
    assert conn["status"] == "active"


def test_remove_asks_first_and_erases_the_credentials(run_cli: Cli, occ: Sim) -> None:
    connection_id = run_cli.connect(occ)
    declined = run_cli("connections", "remove", connection_id, input="n\n")
    assert declined.exit_code == 1
    assert run_cli.json_lines("connections", "show", connection_id)[0]["status"] == "active"

    removed = run_cli("connections", "remove", connection_id, input="y\n")
    assert removed.exit_code == 0
    assert "Removed" in removed.stderr
    assert run_cli.json_lines("connections", "list") == []
    assert run_cli.json_lines("connections", "list", "--status", "removed")[0]["id"] == connection_id
    assert "was removed" in one_line_error(run_cli("products", connection_id), 2)
    assert "was removed" in one_line_error(run_cli("connections", "reconnect", connection_id, input="x\n"), 2)
