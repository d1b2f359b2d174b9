"""``storelink simulate``, ``serve``, ``plugin new`` and ``demo``: bad input, and the servers for real."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from .conftest import STORELINK, Cli, one_line_error


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["simulate", "nope"], "no installed plugin simulates 'nope'"),
        (["simulate", "occ", "--fail-rate", "2"], "--fail-rate"),
        (["simulate", "occ", "--products", "-1"], "--products"),
        (["simulate", "occ", "--token-ttl", "0"], "--token-ttl"),
        (["simulate", "occ", "--port", "70000"], "--port"),
        (["serve", "--port", "-1"], "--port"),
        (["serve", "--channels", "/nonexistent/channels.toml"], "--channels"),
        (["plugin", "new"], "Missing argument 'NAME'"),
        (["plugin", "new", "Big-Shop", "--dir", "{tmp}"], "not a platform slug"),
        (["demo", "--products", "0"], "--products"),
        (["demo", "--token-ttl", "0.5"], "--token-ttl"),
    ],
)
def test_tools_refuse_bad_input_with_exit_code_2(run_cli: Cli, tmp_path: Path, args: list[str], expected: str) -> None:
    line = one_line_error(run_cli(*(a.format(tmp=tmp_path) for a in args)), 2)
    assert expected in line


def test_serve_refuses_an_invalid_channels_file(run_cli: Cli, tmp_path: Path) -> None:
    channels = tmp_path / "channels.toml"
    channels.write_text("[[channel]\nid = ")
    assert str(channels) in one_line_error(run_cli("serve", "--channels", str(channels)), 2)


def test_plugin_new_renders_the_template_once(run_cli: Cli, tmp_path: Path) -> None:
    result = run_cli("plugin", "new", "big_shop", "--dir", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path == tmp_path / "storelink-big-shop"
    assert (path / "pyproject.toml").is_file()
    assert (path / "src" / "storelink_big_shop").is_dir()
    assert "pip install" in result.stderr
    line = one_line_error(run_cli("plugin", "new", "big_shop", "--dir", str(tmp_path)), 2)
    assert line.endswith("already exists; choose another --dir or remove it")


@contextmanager
def _running(args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(  # noqa: S603  # our own console script, fixed arguments
        [STORELINK, *args], env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


@pytest.mark.timeout(60)
def test_simulate_serves_a_store_and_prints_a_key_it_accepts(env: dict[str, str]) -> None:
    with _running(["simulate", "occ", "--products", "20", "--json"], env) as process:
        assert process.stdout is not None
        printed = json.loads(process.stdout.readline())
        login = httpx.post(
            printed["store_url"] + "/ccadmin/v1/login",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Bearer {printed['credentials']['application_key']}"},
        )
        assert login.status_code == 200
        assert login.json()["access_token"]
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "simulator stopped" in err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.timeout(60)
def test_serve_runs_the_connect_service_until_interrupted(env: dict[str, str]) -> None:
    port = _free_port()
    with _running(["serve", "--port", str(port)], env) as process:
        assert process.stderr is not None
        for line in process.stderr:
            if "Uvicorn running on" in line:
                break
        page = httpx.get(f"http://127.0.0.1:{port}/")
        assert page.status_code == 200
        assert "Oracle Commerce Cloud" in page.text
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    assert process.returncode == 0
