"""Matrix presets and flavours expand into the variants they describe."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadbench import builder
from loadbench.builder import matrix


def test_flavours_map_to_build_settings() -> None:
    v = builder.variant("web", flavour="musl")
    assert v.cgo and ("CC", "musl-gcc") in v.env
    assert v.ldflags == ("-linkmode=external", "-extldflags=-static")
    v = builder.variant("web", flavour="strip+upx")
    assert v.post == ("strip", "upx") and v.name == "web-strip-upx"
    v = builder.variant("web", flavour="R=65536")
    assert v.ldflags == ("-R", "0x10000") and v.name == "web-R0x10000" and "align" in v.tags
    v = builder.variant("web", flavour="GOAMD64=v3")
    assert v.env == (("GOAMD64", "v3"),)
    v = builder.variant("web", go_version="1.21.13", goos="windows", goarch="amd64", sw=True)
    assert v.name == "web-go1.21.13-windows-amd64-sw" and v.go_version == "1.21.13"
    with pytest.raises(builder.FlavourError, match="unknown flavour 'turbo'"):
        builder.variant("web", flavour="turbo")


def test_seed_preset_quick() -> None:
    m = matrix.load_matrix("seed", quick=True, default_go_version="go1.27.3")
    names = {v.name for v in m.variants}
    assert m.claims and m.go_versions == ("1.27.3", "1.21.13")
    # C1/C2/C6: both Go versions, three GOOS, with and without -s -w; names carry the version
    for ver in ("1.27.3", "1.21.13"):
        for plat in ("", "-windows-amd64", "-darwin-amd64", "-darwin-arm64"):
            assert f"web-go{ver}{plat}" in names and f"web-go{ver}{plat}-sw" in names
    # the default release is built by the default toolchain, not fetched again
    assert next(v for v in m.variants if v.name == "web-go1.27.3").go_version == ""
    assert next(v for v in m.variants if v.name == "web-go1.21.13").go_version == "1.21.13"
    assert {"web-R0x1000", "web-R0x10000", "web-R0x200000", "web-pie", "web-strip",
            "cgo-musl", "cgo-static", "floor", "hello"} <= names
    full = matrix.load_matrix("seed", quick=False, default_go_version="go1.27.3")
    assert len(full.variants) > len(m.variants)
    assert "web-go1.21.13-windows-arm64-sw" in {v.name for v in full.variants}


def test_new_flavours_map_to_build_settings() -> None:
    v = builder.variant("web", goos="windows", goarch="amd64", flavour="swexe")
    assert v.ldflags == ("-s", "-w", "-buildmode=exe") and v.buildmode == "exe"
    assert v.name == "web-windows-amd64-swexe"
    v = builder.variant("web", flavour="selfbuilt+sw")
    assert v.toolchain == "selfbuilt" and v.ldflags == ("-s", "-w")
    assert v.name == "web-selfbuilt-sw"
    v = builder.variant("cgo", goos="windows", goarch="amd64", flavour="mingw")
    assert v.cgo and ("CC", "x86_64-w64-mingw32-gcc") in v.env
    assert v.name == "cgo-windows-amd64-mingw"


def test_seed_preset_full_has_every_release_the_rebuilt_toolchain_and_the_article_command(
        ) -> None:
    full = {v.name: v for v in matrix.load_matrix("seed", quick=False,
                                                  default_go_version="go1.27.3").variants}
    releases = ("1.21.13", "1.22.10", "1.23.9", "1.24.11", "1.25.5", "1.26.6", "1.27.3")
    for ver in releases:  # C6: every minor release 1.21-1.27, three GOOS, with and without -s -w
        for plat in ("", "-windows-amd64", "-darwin-amd64"):
            assert f"web-go{ver}{plat}" in full and f"web-go{ver}{plat}-sw" in full
    # C8: the default release rebuilt from source, the C1 program for three GOOS
    rebuilt = [v for v in full.values() if v.toolchain == "selfbuilt"]
    assert {v.name for v in rebuilt} == {
        f"web-go1.27.3{p}-selfbuilt{s}" for p in ("", "-windows-amd64", "-darwin-amd64")
        for s in ("", "-sw")}
    assert all(v.go_version == "" for v in rebuilt)  # rebuilt from the default toolchain
    # C13: the article's command next to -s -w on every platform
    for plat in ("", "-windows-amd64", "-darwin-amd64", "-darwin-arm64", "-linux-arm64",
                 "-windows-arm64"):
        assert f"web-go1.27.3{plat}-swexe" in full and f"web-go1.27.3{plat}-sw" in full
    # C15: cgo with and without -s -w; C3/C14: cgo with MinGW-w64
    assert {"cgo-sw", "cgo-external-sw", "cgo-static-sw", "cgo-musl-sw",
            "cgo-windows-amd64-mingw", "cgo-windows-amd64-mingw-sw"} <= set(full)
    quick = {v.name for v in matrix.load_matrix("seed", quick=True,
                                                default_go_version="go1.27.3").variants}
    assert not any("selfbuilt" in n or "go1.24.11" in n for n in quick)
    assert "web-go1.27.3-swexe" in quick and "cgo-sw" in quick


def test_without_cc_drops_c_and_cgo() -> None:
    m = matrix.load_matrix("seed", quick=True, with_cc=False, default_go_version="go1.27.3")
    assert not any(v.cgo or v.kind == "c" for v in m.variants)


def test_default_preset_is_the_bench_matrix() -> None:
    quick = [v.name for v in builder.default_matrix(quick=True)]
    assert quick[:6] == ["hello", "hello-sw", "hello-pie", "web", "web-sw", "web-pie"]
    assert "web-windows-amd64" in quick and "web-darwin-arm64" in quick


@pytest.mark.parametrize(("toml", "needle"), [
    ('[[build]]\ntargets = ["nope"]\n', "unknown target 'nope'"),
    ('[[build]]\ntargets = ["web"]\nplatforms = ["windows"]\n', "not GOOS/GOARCH"),
    ('[[build]]\ntargets = ["web"]\nflavours = ["fast"]\n', "unknown flavour 'fast'"),
    ('[[build]]\ntargets = ["web"]\ncolour = 1\n', "unknown key(s) colour"),
    ("this is = = not toml", "not valid TOML"),
])
def test_bad_matrix_files(tmp_path: Path, toml: str, needle: str) -> None:
    p = tmp_path / "m.toml"
    p.write_text(toml)
    with pytest.raises(builder.BuildError) as e:
        matrix.load_matrix(str(p))
    assert needle in str(e.value)


def test_unknown_preset() -> None:
    with pytest.raises(builder.BuildError, match="unknown preset 'nope'; presets: default, seed"):
        matrix.load_matrix("nope")
