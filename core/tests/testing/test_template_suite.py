"""CI check: the rendered template passes its contract suite; broken copies fail it by hook.

Each copy is rendered under a new name, built from its own pyproject.toml and installed
into a directory of its own, then its tests run in a subprocess with that directory on
the path: the shared virtual environment is left as it was.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import storelink
from storelink.scaffold import render_plugin

from .conftest import edit, pip_install, run_pytest

pytestmark = pytest.mark.slow


def rendered(tmp_path: Path, name: str) -> tuple[Path, Path]:
    project = render_plugin(name, tmp_path / "plugins")
    return project, tmp_path / f"site-{name}"


def test_rendered_template_passes_its_contract_suite(tmp_path: Path) -> None:
    project, site = rendered(tmp_path, "acme_shop")
    pip_install(project, site)
    result = run_pytest(project, site, "-q", "-rs")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert "passed" in summary
    assert "failed" not in summary
    # Only the OAuth rules are skipped: this variant onboards with a pasted key.
    assert "4 skipped" in summary
    skips = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert skips
    assert all("the platform declares no OAuth flow" in line for line in skips), skips


def test_rendered_oauth_template_passes_its_contract_suite_with_the_oauth_rules(tmp_path: Path) -> None:
    project = render_plugin("acme_hub", tmp_path / "plugins", variant="oauth")
    site = tmp_path / "site-acme_hub"
    pip_install(project, site)
    result = run_pytest(project, site, "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    for rule in ("authorization_url", "callback_verification", "code_exchange", "no_secret_in_logs_or_errors"):
        assert f"test_oauth_{rule} PASSED" in result.stdout
    assert "SKIPPED" not in result.stdout
    assert "failed" not in result.stdout.strip().splitlines()[-1]


def test_rendered_oauth_template_is_strictly_typed_and_lint_clean(tmp_path: Path) -> None:
    project = render_plugin("acme_hub", tmp_path / "plugins", variant="oauth")
    env = {**os.environ, "MYPYPATH": str(Path(storelink.__file__).parents[1])}
    for command in (
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "src", "tests"],
        [sys.executable, "-m", "ruff", "check", "."],
        [sys.executable, "-m", "ruff", "format", "--check", "."],
    ):
        done = subprocess.run(  # noqa: S603  # this interpreter's tools, on a directory the test made
            command, cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, f"{' '.join(command[2:])}:\n{done.stdout}{done.stderr}"


def test_a_hook_returning_a_bad_model_fails_naming_the_hook(tmp_path: Path) -> None:
    project, site = rendered(tmp_path, "badmodel")
    edit(
        project / "src/storelink_badmodel/mapping.py", 'title=fields.text("name")', 'title=fields.payload.get("title")'
    )
    pip_install(project, site)
    result = run_pytest(project, site, "-q", "-k", "list_pages_to_the_end and fetch_products")
    assert result.returncode == 1
    assert "fetch_products: page 1 item 0 (id 'prod-1') is not a valid Product: title: expected str" in result.stdout


def test_a_normaliser_that_keeps_paths_fails_naming_the_hook(tmp_path: Path) -> None:
    project, site = rendered(tmp_path, "keepspath")
    edit(
        project / "src/storelink_keepspath/urls.py",
        'return StoreURL(origin=f"https://{_ascii_host(host)}" + ("" if default_port else f":{port}"))',
        "return StoreURL(origin=f\"https://{_ascii_host(host)}{parts.path.rstrip('/')}\")",
    )
    pip_install(project, site)
    result = run_pytest(project, site, "-q", "-k", "store_url_golden")
    assert result.returncode == 1
    assert "normalize_store_url: built an invalid StoreURL from" in result.stdout
    assert "drop the path" in result.stdout


def test_a_hook_that_loops_on_one_cursor_fails_naming_the_hook(tmp_path: Path) -> None:
    project, site = rendered(tmp_path, "loops")
    edit(project / "src/storelink_loops/plugin.py", '        params["cursor"] = token\n', "        pass\n")
    pip_install(project, site)
    result = run_pytest(project, site, "-q", "-k", "list_pages_to_the_end and fetch_products")
    assert result.returncode == 1
    assert "fetch_products: page 2 returned the same cursor as page 1" in result.stdout
    assert "return Page.next=None on the last page" in result.stdout


REPLAYED = """

    @pytest.fixture
    def recordings(self) -> Path:
        return Path(os.environ["CONTRACT_RECORDINGS"])

    @pytest.fixture
    def transport(self, simulator: TemplateSimulator) -> httpx.AsyncBaseTransport:
        if os.environ.get("CONTRACT_OFFLINE"):
            pytest.fail("a replayed test reached for the live transport")
        return httpx.ASGITransport(app=simulator.app)
"""


def test_the_suite_records_scrubbed_exchanges_and_passes_on_their_replay(tmp_path: Path) -> None:
    project, site = rendered(tmp_path, "recorded")
    tests = project / "tests/test_contract.py"
    edit(tests, "import pytest\n", "import os\nfrom pathlib import Path\n\nimport httpx\nimport pytest\n")
    tests.write_text(tests.read_text() + REPLAYED.replace("TemplateSimulator", "RecordedSimulator"))
    pip_install(project, site)
    recordings = tmp_path / "recordings"
    env = {"CONTRACT_RECORDINGS": str(recordings)}
    recorded = run_pytest(project, site, "-q", "tests/test_contract.py", "--storelink-record", env=env)
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    files = sorted(recordings.glob("*.json"))
    assert len(files) >= 15
    keys = {json.loads(f.read_text())["exchanges"][0]["request"]["headers"]["authorization"] for f in files}
    assert keys == {"<scrubbed>"}
    assert not [f for f in files if re.search(r"recorded_[0-9a-f]{32}", f.read_text())]  # no API key
    replayed = run_pytest(project, site, "-q", "tests/test_contract.py", env={**env, "CONTRACT_OFFLINE": "1"})
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
