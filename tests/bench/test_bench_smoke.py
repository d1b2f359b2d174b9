"""Each benchmark runs end to end at a tiny size and yields sane figures (no timing asserted)."""

from __future__ import annotations

import gc
import math
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import catalog, celery_workers, faults, many_stores, memory, run, shared_tokens, startup, tokens  # noqa: E402
from bench.harness import Figure, Section, Stat, percentile, run_child  # noqa: E402


def figures(section: Section, prefix: str) -> list[Figure]:
    found = [f for f in section.figures if f.name.startswith(prefix)]
    assert found, f"no figure named {prefix!r} in {[f.name for f in section.figures]}"
    return found


def assert_sane(section: Section) -> None:
    assert section.figures
    for f in section.figures:
        assert math.isfinite(f.value), f.name
        assert f.runs >= 1, f.name
        if f.target:
            assert f.met is not None, f.name
    rendered = run.render_section(section)
    assert section.title in rendered
    assert rendered.count("\n|") == len(section.figures) + 2  # header, rule, one row per figure


def test_stat_and_percentile() -> None:
    assert Stat.of([3.0, 1.0, 2.0]) == Stat(2.0, 1.0, 3.0, 3)
    assert percentile([float(i) for i in range(1, 101)], 50) == 50.0
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0


def test_run_child_reports_the_peak_rss_of_that_child_not_its_parent(tmp_path: Path) -> None:
    ballast = bytearray(96 * 1024 * 1024)  # the parent's RSS must not leak into the child's figure
    ballast[::4096] = b"x" * len(ballast[::4096])
    small, big = tmp_path / "small.py", tmp_path / "big.py"
    small.write_text("pass\n")
    big.write_text("x = bytearray(64 * 1024 * 1024)\nx[::4096] = b'x' * len(x[::4096])\n")
    small_peak = run_child([sys.executable, str(small)], peak=True).peak_kb
    big_peak = run_child([sys.executable, str(big)], peak=True).peak_kb
    assert small_peak is not None
    assert big_peak is not None
    assert small_peak < 64 * 1024
    assert 60 * 1024 < big_peak - small_peak < 80 * 1024
    del ballast


def test_generated_plugins_are_valid_platforms(tmp_path: Path) -> None:
    startup.write_plugins(tmp_path, 3)
    code = "import storelink; print(sorted(p.slug for p in storelink.list_platforms() if p.slug.startswith('benchp')))"
    out = run_child([sys.executable, "-c", code], env={"PYTHONPATH": str(tmp_path)}).stdout
    assert out.strip() == "['benchp000', 'benchp001', 'benchp002']"


def test_startup() -> None:
    section = startup.run(quick=True, plugin_counts=(1, 3), repeat=1, warmups=0)
    assert_sane(section)
    for f in figures(section, "generated plugin modules imported"):
        assert f.met, f.name  # laziness is not a timing: it must hold even at tiny N


def test_catalog() -> None:
    section = catalog.run(quick=True, sizes=(600,), latencies_ms=(0.0,), repeat=1)
    assert_sane(section)
    rates = figures(section, "products/s")
    assert {f.name.split(",")[1].strip() for f in rates} == set(catalog.CONTENDERS)
    assert all(f.value > 0 for f in rates)
    assert "NOT the same" not in " ".join(section.notes), "every contender must make the same page requests"


def test_a_walk_counts_the_collections_in_it_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    with catalog.Walk() as walk:
        gc.collect()
    assert set(walk.figures) == {"seconds", "cpu"}
    monkeypatch.setattr(catalog.Walk, "count_collections", True)
    with catalog.Walk() as walk:
        gc.collect()
        gc.collect(0)
    assert walk.figures["gc"]["2"]["collections"] == 1
    assert walk.figures["gc"]["0"]["collections"] >= 1
    assert walk._collected not in gc.callbacks  # removed once the walk is over
    gc.collect()
    assert walk.figures["gc"]["2"]["collections"] == 1


def test_tokens() -> None:
    section = tokens.run(quick=True, reads=40, ttl=1.0, lifetimes=1.5, burst=10, latency_ms=5.0, repeat=1)
    assert_sane(section)
    assert len(figures(section, "failed reads")) == 2  # in bursts, and all at once
    assert figures(section, "token acquisitions (logins + refreshes), 40 reads in bursts")[0].value >= 1


def test_memory() -> None:
    section = memory.run(quick=True, sizes=(200, 400), repeat=1)
    assert_sane(section)
    assert all(f.value > 10 for f in figures(section, "peak RSS"))  # MiB: a Python process


def test_many_stores() -> None:
    section = many_stores.run(quick=True, stores=3, products=300, latency_ms=0.0, repeat=1)
    assert_sane(section)
    assert figures(section, "fairness")[0].value >= 1.0


def test_faults() -> None:
    section = faults.run(quick=True, products=1000, repeat=1)
    assert_sane(section)
    completed = figures(section, "runs completed")
    assert {f.name.split(", ", 1)[1] for f in completed} == set(faults.CONTENDERS)
    for f in completed:
        if f.target:
            assert f.met, (f.name, section.notes)  # completing through faults is correctness, not timing


def test_shared_tokens() -> None:
    section = shared_tokens.run(quick=True, repeat=1)
    assert_sane(section)


def test_celery_workers() -> None:
    section = celery_workers.run(quick=True, stores=2, products=100)
    if not os.environ.get("STORELINK_TEST_REDIS_URL"):  # scripts/services.sh starts Redis for the suite
        assert section.notes == ["skipped: STORELINK_TEST_REDIS_URL is not set (source scripts/services.sh first)"]
        return
    assert_sane(section)
