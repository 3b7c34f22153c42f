"""An installed wheel carries everything loadbench reads at run time: probe assets (top-level
probes/ mapped to loadbench/_assets), Go targets, matrix presets, the launcher source, the
record schema."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    cp = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                         str(ROOT)], capture_output=True, text=True)
    if cp.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {cp.stderr.strip()[-300:]}")
    (whl,) = out.glob("loadbench-*.whl")
    return whl


def test_wheel_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for need in ("loadbench/_assets/windows/loadbench.wprp", "loadbench/_assets/macos/loadbench.d",
                 "loadbench/_assets/linux/perf-trace.events", "loadbench/launcher.c",
                 "loadbench/builder/targets/web/main.go", "loadbench/builder/targets/web/go.mod",
                 "loadbench/builder/targets/floor/floor.c", "loadbench/builder/presets/seed.toml",
                 "loadbench/schema/record-v1.schema.json"):
        assert need in names, need


def test_installed_wheel_finds_its_assets(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)
    code = ("import loadbench.probes as p, loadbench.builder as b, sys;"
            "print(p.asset_path('windows/loadbench.wprp'));"
            "print(p.asset_path('macos/loadbench.d'));"
            "print(b.TARGETS_DIR)")
    # -I: ignore the checkout and the user's site; only the installed copy is importable
    cp = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, "
                         f"{str(target)!r}); {code}"], capture_output=True, text=True, check=True)
    lines = cp.stdout.split()
    assert all(line.startswith(str(target)) for line in lines), lines
    assert "/_assets/" in lines[0] and Path(lines[0]).is_file()
