"""The two checks of the seed claims that cost minutes of CPU, run for real: Go rebuilt from
its own source (C8) and builds with an empty GOCACHE (C12). Marked ``heavy``: they run only
with LOADBENCH_HEAVY=1 (see README, Development); the default run checks the claims' logic on
the captured outputs in tests/data/seed/."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadbench import builder, claimchecks
from loadbench.builder import toolchains

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.heavy]


def test_rebuilt_toolchain_and_its_builds_are_the_official_ones(tmp_path: Path) -> None:
    go = builder.find_go()
    rebuilt = toolchains.selfbuilt_go(go)  # minutes the first time, then from the cache
    assert rebuilt.version == go.version and rebuilt.path != go.path
    info = toolchains.selfbuilt_info(go.version)
    assert info is not None and info["bootstrap_version"] == go.version
    cmp_ = claimchecks.compare_toolchains(toolchains.goroot(go), toolchains.goroot(rebuilt))
    assert cmp_["files_compared"] >= 8 and not cmp_["only_official"]
    assert cmp_["identical"] == cmp_["files_compared"], cmp_["differing"]
    m = builder.build([builder.variant("web", sw=True),
                       builder.variant("web", flavour="selfbuilt+sw")], tmp_path, go=go)
    official, selfbuilt = (m.by_name("web-sw"), m.by_name("web-selfbuilt-sw"))
    assert selfbuilt.go_source == "selfbuilt" and "selfbuilt" in m.extra
    assert selfbuilt.env["GOCACHE"] != official.env["GOCACHE"]
    diff = claimchecks.byte_diff(official.path, selfbuilt.path, go)
    assert diff["identical"], diff


def test_cold_and_warm_gocache_builds_are_byte_identical(tmp_path: Path) -> None:
    go = builder.find_go()
    m = builder.build([builder.variant("web")], tmp_path / "bin", go=go)
    out = claimchecks.cache_reproducibility(go, m.to_json(), tmp_path / "work",
                                            platforms=("linux/amd64",))
    row = out["platforms"]["linux/amd64"]
    assert row["cold_vs_warm"]["identical"] and row["cold_vs_long_lived"]["identical"]
    assert row["cold_build_s"] > 3 * row["warm_build_s"]  # the warm build used the cache
    assert row["cold_symbols"] == row["warm_symbols"]
    assert out["modules"] == ["loadbench.local/web"] and out["go_sum"] is False
    assert not list((tmp_path / "work").glob("cold-*"))
