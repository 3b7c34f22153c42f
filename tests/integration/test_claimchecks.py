"""The seed claims' checks on real builds: symbol tables against GNU nm, PE TLS against
llvm-readobj, byte comparisons of the article's command, go list per platform, and os/user and
net without cgo. Builds go through loadbench's builder and its cache (seconds once cached)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from loadbench import builder, claimchecks, inspector

pytestmark = pytest.mark.integration

NM = shutil.which("nm")
READOBJ = shutil.which("llvm-readobj") or shutil.which("llvm-readobj-14")
HAVE_CC = builder.find_cc() is not None
HAVE_MINGW = shutil.which(builder.variant("cgo", flavour="mingw").env[0][1]) is not None


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("claims-bin")
    vs = [builder.variant("web", sw=True), builder.variant("web", flavour="swexe"),
          builder.variant("web", goos="windows", goarch="amd64", sw=True),
          builder.variant("web", goos="windows", goarch="amd64", flavour="swexe"),
          builder.variant("web", goos="darwin", goarch="arm64", sw=True),
          builder.variant("web", goos="darwin", goarch="arm64", flavour="swexe")]
    if HAVE_CC:
        vs += [builder.variant("cgo"), builder.variant("cgo", sw=True),
               builder.variant("cgo", flavour="static+sw")]
    if HAVE_CC and HAVE_MINGW:
        vs.append(builder.variant("cgo", goos="windows", goarch="amd64", flavour="mingw"))
    m = builder.build(vs, out)
    return {b.name: b.path for b in m.built}


def _nm(*args: str) -> list[str]:
    cp = subprocess.run([NM, *args], capture_output=True, text=True)
    if cp.returncode != 0 and "no symbols" in cp.stderr:
        return []
    assert cp.returncode == 0, cp.stderr
    return cp.stdout.splitlines()


@pytest.mark.skipif(NM is None or not HAVE_CC, reason="needs binutils nm and a C compiler")
@pytest.mark.parametrize("name", ["cgo", "cgo-sw", "cgo-static-sw", "web-sw"])
def test_symbol_counts_agree_with_nm(builds: dict[str, str], name: str) -> None:
    path = builds[name]
    sy = inspector.inspect_file(path)["symbols"]
    static, dynamic = _nm(path), _nm("-D", path)

    def undef(line: str) -> bool:  # nm prints no address for undefined symbols (U, w, v)
        return not line[:16].strip()

    assert sy["static"] == len(static)
    assert sy["static_undefined"] == sum(1 for line in static if undef(line))
    assert sy["dynamic"] == len(dynamic)
    undefined = sorted({re.sub(r"@.*", "", line.split()[-1]) for line in dynamic if undef(line)})
    assert sy["dynamic_undefined"] == len(undefined)
    assert sy["dynamic_undefined_names"] == undefined[:200]


@pytest.mark.skipif(not HAVE_CC, reason="needs a C compiler")
def test_cgo_keeps_c_symbols_after_s_w_in_the_dynamic_table_only(builds: dict[str, str]) -> None:
    full = inspector.inspect_file(builds["cgo"])["symbols"]
    sw = inspector.inspect_file(builds["cgo-sw"])["symbols"]
    static_sw = inspector.inspect_file(builds["cgo-static-sw"])["symbols"]
    assert full["static"] > 1000 and full["cgo_runtime"] > 0
    assert sw["static"] == 0 and sw["dynamic_undefined"] == full["dynamic_undefined"] > 10
    assert {"malloc", "fprintf"} <= set(sw["dynamic_undefined_names"])
    assert static_sw["static"] == 0 and static_sw["dynamic"] == 0


@pytest.mark.skipif(READOBJ is None or not (HAVE_CC and HAVE_MINGW),
                    reason="needs llvm-readobj, a C compiler and x86_64-w64-mingw32-gcc")
def test_pe_tls_callbacks_agree_with_llvm_readobj(builds: dict[str, str]) -> None:
    for name in ("cgo-windows-amd64-mingw", "web-windows-amd64-sw"):
        path = builds[name]
        pe = inspector.inspect_file(path)["pe"]
        out = subprocess.run([READOBJ, "--coff-tls-directory", path], capture_output=True,
                             text=True, check=True).stdout
        m = re.search(r"AddressOfCallBacks: (0x[0-9A-Fa-f]+)", out)
        assert pe["tls"] == (m is not None), out
        if m is not None:
            assert pe["tls_callbacks"] >= 1 and int(m.group(1), 16) != 0
        assert pe["resources_bytes"] == 0


def test_article_command_is_sw_but_for_the_build_id_except_where_pie_is_default(
        builds: dict[str, str]) -> None:
    go = builder.find_go()
    linux = claimchecks.byte_diff(builds["web-sw"], builds["web-swexe"], go)
    assert not linux["identical"] and linux["differing_bytes"] > 0
    assert claimchecks.same_but_build_id(linux), linux
    assert set(linux["outside_build_id_by_region"]) <= {".note.gnu.build-id"}
    mac = claimchecks.byte_diff(builds["web-darwin-arm64-sw"], builds["web-darwin-arm64-swexe"],
                                go)
    assert claimchecks.same_but_build_id(mac), mac
    win = claimchecks.byte_diff(builds["web-windows-amd64-sw"],
                                builds["web-windows-amd64-swexe"], go)
    assert win["size_b"] < win["size_a"] and not claimchecks.same_but_build_id(win)
    a = inspector.detail(inspector.inspect_file(builds["web-windows-amd64-sw"]))
    b = inspector.detail(inspector.inspect_file(builds["web-windows-amd64-swexe"]))
    assert a["pie"] and not b["pie"]
    assert a["pe"]["base_relocations"] > 0 and b["pe"]["base_relocations"] == 0


def test_go_list_finds_runtime_cgo_only_with_cgo(tmp_path: Path) -> None:
    go = builder.find_go()
    src = tmp_path / "web"
    shutil.copytree(builder.TARGETS_DIR / "web", src)
    r = claimchecks.cgo_deps(go, src)["platforms"]
    assert set(r) == set(claimchecks.PLATFORMS)
    for row in r.values():
        assert row["CGO_ENABLED=0"]["runtime_cgo"] is False and row["CGO_ENABLED=0"]["net"]
    assert r["linux/arm64"]["default_CGO_ENABLED"] == "0"
    assert r["linux/arm64"]["CGO_ENABLED=1"]["runtime_cgo"] is True
    assert r["windows/amd64"]["CGO_ENABLED=1"]["runtime_cgo"] is False


def test_os_user_and_net_work_without_cgo(tmp_path: Path) -> None:
    go = builder.find_go()
    out = claimchecks.pure_go(go, tmp_path, builder.find_cc())
    off = out["CGO_ENABLED=0"]
    assert off["packages"]["net"]["cgo_files"] == [] and off["packages"]["net"]["go_files"] > 10
    assert off["packages"]["os/user"]["cgo_files"] == []
    assert off["lookup_deps"] == {"net": True, "os/user": True, "runtime/cgo": False}
    assert off["run"]["exit_code"] == 0, off["run"]
    assert any(line.startswith("localhost: [") for line in off["run"]["stdout"])
    assert off["cgo_runtime_symbols"] == 0 and off["dynamic_undefined"] == 0
    if HAVE_CC:
        on = out["CGO_ENABLED=1"]
        assert on["packages"]["net"]["cgo_files"] and on["lookup_deps"]["runtime/cgo"]
        assert on["run"]["exit_code"] == 0 and on["cgo_runtime_symbols"] > 0
    assert not list(tmp_path.glob("**/*.partial"))
