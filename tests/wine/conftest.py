"""Fixtures of the Wine tests: one Wine prefix per session, and the Windows binaries they launch.

Every test here is marked ``wine``. Without Wine, mingw-w64 or the embeddable CPython they skip
with the reason; with ``LOADBENCH_REQUIRE_WINE=1`` (``.ci/run`` sets it) they fail instead, so CI
cannot pass by skipping them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import winehost


def _unavailable(reason: str) -> None:
    if os.environ.get("LOADBENCH_REQUIRE_WINE"):
        pytest.fail(f"LOADBENCH_REQUIRE_WINE is set but the Wine tests cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def wine_tools(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The embeddable CPython, the stand-in bcryptprimitives.dll and floor.exe (built here)."""
    from loadbench import builder

    why = winehost.missing_tools()
    if why:
        _unavailable(why)
    try:
        python_exe = winehost.windows_python(builder.cache_dir())
    except (winehost.WineError, OSError) as e:
        _unavailable(f"no embeddable Windows CPython: {e}")
    out = tmp_path_factory.mktemp("wintools")
    here = winehost.HERE
    dll = winehost.compile_windows(here / "bcryptprimitives.c", out / "bcryptprimitives.dll",
                                   "-shared", str(here / "bcryptprimitives.def"), "-lbcrypt")
    floor = winehost.compile_windows(here / "floor.c", out / "floor.exe", "-nostdlib",
                                     "-e", "start", "-lkernel32")
    return {"python": python_exe, "dll": dll, "floor": floor}


@pytest.fixture(scope="session")
def wine(wine_tools: dict[str, Path]) -> Iterator[winehost.WinePrefix]:
    prefix = winehost.WinePrefix.create(wine_tools["python"], wine_tools["dll"])
    try:
        yield prefix
    finally:
        prefix.close()
    left = prefix.linux_processes()
    assert not left and not prefix.root.exists(), f"the Wine prefix left {left} behind"


@pytest.fixture(scope="session")
def win_bins(tmp_path_factory: pytest.TempPathFactory,
             wine_tools: dict[str, Path]) -> dict[str, str]:
    """hello, web and probecheck for windows/amd64 from loadbench's builder, plus floor.exe;
    name -> the path as Windows programs in the prefix see it."""
    from loadbench import builder

    out = tmp_path_factory.mktemp("winbin")
    m = builder.build([builder.variant(t, goos="windows", goarch="amd64", name=t)
                       for t in ("hello", "web", "probecheck")], out)
    paths = {b.name: b.path for b in m.built}
    paths["floor"] = str(wine_tools["floor"])
    return {name: winehost.windows_path(p) for name, p in paths.items()}
