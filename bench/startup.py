"""Start-up and discovery: what importing storelink and loading one platform cost.

Each figure is measured twice, with 1 and with 50 generated platform plugins
installed (throwaway distributions: a ``.dist-info`` with an entry point in
``storelink.platforms`` and a module beside it, on ``PYTHONPATH``), on top of what the
venv already has installed. Target: loading one platform costs the same whatever
else is installed, so only that platform's module is imported and the time does not
grow with the number of plugins.

Every command is a fresh interpreter; the two configurations are interleaved run by
run so that noise on this shared machine hits both alike. stevedore's entry-point
cache is pointed at the temporary directory (``XDG_CACHE_HOME``) and warmed once per
configuration, as it is on any machine after the first run.

The CLI's cold start is measured against ``python -c "import httpx"``, run right
before it in the same loop (issue 15: ``storelink platforms`` <= 1.5x that, on the
1-plugin configuration: the venv's platforms plus one generated one).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.harness import (
    BENCH,
    PYTHON,
    ChildRun,
    Figure,
    Section,
    Stat,
    command_text,
    last_json_line,
    run_child,
    storelink_script,
)

GENERATED_PREFIX = "storelink_benchp"
LOADTIME = str(BENCH / "loadtime.py")
IMPORTTIME = [PYTHON, "-X", "importtime", "-c", "import storelink"]
#: What the CLI's start-up is judged against: the HTTP client every platform plugin imports.
HTTPX_RATIO_TARGET = 1.5

PLUGIN_SOURCE = '''"""Generated benchmark platform plugin {slug} (throwaway)."""

from storelink import (
    AccessToken,
    Capability,
    CredentialField,
    CredentialSchema,
    Page,
    PlatformInfo,
    Secret,
    StoreURL,
    StoreURLError,
    hookimpl,
)


@hookimpl
def platform_info():
    return PlatformInfo(
        slug="{slug}",
        title="Benchmark platform {slug}",
        credential_schema=CredentialSchema(fields=(CredentialField(name="api_key", label="API key", secret=True),)),
        capabilities={{Capability.PRODUCTS}},
    )


@hookimpl
def normalize_store_url(raw, allow_loopback):
    text = raw.strip().lower().rstrip("/")
    if not text.startswith("https://"):
        raise StoreURLError("the store URL must start with https://")
    return StoreURL(origin=text)


@hookimpl
async def authenticate(ctx, audience):
    return AccessToken(value=Secret("generated-token"), expires_in=300.0, audience=audience)


@hookimpl
async def fetch_products(ctx, cursor):
    return Page(items=())
'''


def slug(i: int) -> str:
    return f"benchp{i:03d}"


def write_plugins(dest: Path, count: int) -> None:
    """Write *count* platform plugin distributions (dist-info + module) into *dest*."""
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        name = slug(i)
        module = f"storelink_{name}"
        dist = dest / f"{module}-1.0.dist-info"
        dist.mkdir()
        (dest / f"{module}.py").write_text(PLUGIN_SOURCE.format(slug=name))
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
        (dist / "entry_points.txt").write_text(f"[storelink.platforms]\n{name} = {module}\n")
        (dist / "top_level.txt").write_text(f"{module}\n")
        (dist / "RECORD").write_text(f"{module}.py,,\n{dist.name}/METADATA,,\n{dist.name}/entry_points.txt,,\n")


@contextmanager
def plugin_env(count: int) -> Iterator[dict[str, str]]:
    """Yield environment variables under which *count* generated plugins are installed."""
    tmp = Path(tempfile.mkdtemp(prefix=f"storelink-bench-{count}p-"))
    try:
        site = tmp / "site"
        write_plugins(site, count)
        # Bytecode is cached (in the temporary directory) even where PYTHONDONTWRITEBYTECODE
        # is set, as an installed package's is: otherwise storelink's own modules, unlike
        # httpx's in site-packages, would be compiled from source on every run.
        yield {
            "PYTHONPATH": str(site),
            "XDG_CACHE_HOME": str(tmp / "cache"),
            "PYTHONDONTWRITEBYTECODE": "",
            "PYTHONPYCACHEPREFIX": str(tmp / "pycache"),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


IMPORT_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def parse_importtime(stderr: str) -> dict[str, tuple[int, int]]:
    """Map each imported module's name to its (self, cumulative) microseconds from ``-X importtime``."""
    found: dict[str, tuple[int, int]] = {}
    for line in stderr.splitlines():
        m = IMPORT_LINE.match(line)
        if m:
            found[m.group(4)] = (int(m.group(1)), int(m.group(2)))
    return found


def generated_imported(modules: dict[str, tuple[int, int]]) -> int:
    return sum(1 for name in modules if name.startswith(GENERATED_PREFIX))


def occ_installed() -> bool:
    probe = run_child([PYTHON, "-c", "import storelink; storelink.get_platform('occ')"], check=False)
    return probe.returncode == 0


@dataclass(frozen=True)
class Probe:
    """One command to time in a fresh interpreter, and how to read its figure."""

    label: str
    cmd: list[str]
    read: Callable[[ChildRun], dict[str, float]]
    #: The figure must not grow with the number of installed plugins.
    flat: bool = False
    #: Generated plugin modules it may import (checked when ``read`` reports them).
    imports: int | None = None
    #: Run before each run of this one, in the same environment; the ratio is against it.
    baseline: Probe | None = None
    #: The most this may cost in the 1-plugin configuration, as a multiple of ``baseline``.
    baseline_target: float | None = None


def probes(cli: str | None, with_occ: bool) -> list[Probe]:
    """The commands measured, in order."""
    one = slug(0)
    found = [
        Probe("python -c pass (the interpreter alone)", [PYTHON, "-c", "pass"], _wall),
        Probe("import storelink, wall", [PYTHON, "-c", "import storelink"], _wall, flat=True),
        Probe("import storelink, -X importtime cumulative", IMPORTTIME, _importtime, flat=True, imports=0),
        Probe(f"get_platform({one!r}) in-process, after the import", [PYTHON, LOADTIME, one], _load, True, 1),
        Probe(
            f"import storelink + get_platform({one!r}), wall",
            [PYTHON, "-c", f"import storelink; storelink.get_platform({one!r})"],
            _wall,
            flat=True,
        ),
    ]
    if with_occ:
        found.append(
            Probe("get_platform('occ') in-process, after the import", [PYTHON, LOADTIME, "occ"], _load, True, 0)
        )
    if cli:
        httpx = Probe("python -c 'import httpx', wall", [PYTHON, "-c", "import httpx"], _wall)
        found.append(Probe("storelink --help, wall", [cli, "--help"], _wall, baseline=httpx))
        found.append(
            Probe(
                "storelink platforms, wall (lists, so loads, every platform)",
                [cli, "platforms"],
                _wall,
                baseline=httpx,
                baseline_target=HTTPX_RATIO_TARGET,
            )
        )
    return found


def run(
    *, quick: bool = False, plugin_counts: Sequence[int] = (1, 50), repeat: int | None = None, warmups: int = 1
) -> Section:
    """Measure start-up and discovery with each of *plugin_counts* generated plugins."""
    runs = repeat or (3 if quick else 9)
    section = Section(
        name="startup",
        title="Start-up and discovery",
        command="python bench/run.py --only startup" + (" --quick" if quick else ""),
        quick=quick,
    )
    cli = storelink_script()
    with_occ = occ_installed()
    if not cli:
        section.notes.append("`storelink platforms` not measured: the CLI (storelink.cli) is not importable.")
    if not with_occ:
        section.notes.append("get_platform('occ') not measured: the OCC plugin does not load.")
    low = plugin_counts[0]
    with ExitStack() as stack:
        envs = {n: stack.enter_context(plugin_env(n)) for n in plugin_counts}
        installed = {n: _count_platforms(envs[n]) for n in plugin_counts}
        for probe in probes(cli, with_occ):
            measured = [probe] if probe.baseline is None else [probe.baseline, probe]
            for _ in range(warmups):  # page cache, .pyc files, stevedore's entry-point cache
                for n in plugin_counts:
                    for each in measured:
                        run_child(each.cmd, env=envs[n])
            samples: dict[int, list[dict[str, float]]] = {n: [] for n in plugin_counts}
            against: dict[int, list[float]] = {n: [] for n in plugin_counts}
            for _ in range(runs):
                for n in plugin_counts:  # interleaved: noise hits every configuration alike
                    if probe.baseline is not None:  # and the baseline right before, in the same one
                        against[n].append(probe.baseline.read(run_child(probe.baseline.cmd, env=envs[n]))["seconds"])
                    samples[n].append(probe.read(run_child(probe.cmd, env=envs[n])))
            base = Stat.of([r["seconds"] for r in samples[low]]).median
            for n in plugin_counts:
                platforms = f"{n} generated + {installed[n] - n} installed = {installed[n]} platforms"
                command = command_text(probe.cmd, {"PYTHONPATH": f"<{n} generated plugins>"})
                baseline_ms: float | None = None
                if probe.baseline is not None:
                    baseline_stat = Stat.of([s * 1000 for s in against[n]])
                    baseline_ms = baseline_stat.median
                    section.add(
                        Figure.from_stat(
                            f"{probe.baseline.label}, run before each {probe.label.split(',')[0]}; {platforms}",
                            baseline_stat,
                            "ms",
                            ratio="baseline",
                            command=command_text(probe.baseline.cmd, {"PYTHONPATH": f"<{n} generated plugins>"}),
                        )
                    )
                stat = Stat.of([r["seconds"] * 1000 for r in samples[n]])
                ratio = stat.median / 1000 / base
                judged = probe.flat and n != low
                ratios = [] if n == low else [f"{ratio:.2f}x {low}-plugin"]
                targets = [f"<= 1.10x the {low}-plugin run"] if judged else []
                verdicts = [ratio <= 1.10] if judged else []
                if probe.baseline is not None and baseline_ms is not None:
                    against_ratio = stat.median / baseline_ms
                    name = probe.baseline.label.split(",")[0]
                    ratios.insert(0, f"{against_ratio:.2f}x {name}")
                    if probe.baseline_target is not None and n == low:
                        targets.append(f"<= {probe.baseline_target:.2f}x {name}")
                        verdicts.append(against_ratio <= probe.baseline_target)
                section.add(
                    Figure.from_stat(
                        f"{probe.label}; {platforms}",
                        stat,
                        "ms",
                        ratio=", ".join(ratios) or "baseline",
                        target="; ".join(targets),
                        met=all(verdicts) if verdicts else None,
                        command=command,
                    )
                )
                if probe.imports is not None:
                    loaded = max(r["generated"] for r in samples[n])
                    section.add(
                        Figure(
                            f"generated plugin modules imported by {probe.label.split(',')[0]}; {n} installed",
                            loaded,
                            "modules",
                            runs=runs,
                            target=str(probe.imports),
                            met=loaded == probe.imports,
                            command=command,
                        )
                    )
    section.notes.append(
        f"{runs} runs per figure after {warmups} warm-up run(s), the configurations interleaved run by run; "
        f"ratios are of medians against the {low}-plugin run measured in the same loop. "
        "'installed' counts the venv's own platforms (OCC and any other installed plugin). "
        "The CLI's figures have `python -c 'import httpx'` run right before each of their runs, in the same "
        f"environment; the target `storelink platforms` <= {HTTPX_RATIO_TARGET:.2f}x it is judged on the "
        f"{low}-plugin configuration."
    )
    return section


def _wall(result: ChildRun) -> dict[str, float]:
    return {"seconds": result.wall}


def _importtime(result: ChildRun) -> dict[str, float]:
    modules = parse_importtime(result.stderr)
    _self_us, cumulative_us = modules["storelink"]
    return {"seconds": cumulative_us / 1e6, "generated": generated_imported(modules)}


def _load(result: ChildRun) -> dict[str, float]:
    data = last_json_line(result.stdout)
    return {"seconds": float(data["load"]), "generated": float(data["generated"])}


def _count_platforms(env: dict[str, str]) -> int:
    code = "import importlib.metadata as m; print(len({ep.name for ep in m.entry_points(group='storelink.platforms')}))"
    return int(run_child([PYTHON, "-c", code], env=env).stdout.strip())
