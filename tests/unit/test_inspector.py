"""The inspector on real binaries built in the test session, and its one-line errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from loadbench import inspector
from loadbench.cli import cli


def test_go_build_info_and_strip_detection(built: dict[str, str]) -> None:
    full = inspector.inspect_file(built["hello"])
    sw = inspector.inspect_file(built["hello-sw"])
    assert full["go"]["version"].startswith("go1.")
    assert full["go"]["settings"]["-trimpath"] == "true"
    assert full["go"]["settings"]["CGO_ENABLED"] == "0"
    # with -trimpath Go does not record -ldflags: stripping is detected from the binary itself
    assert "-ldflags" not in sw["go"]["settings"]
    assert sw["stripped"] is True and full["stripped"] is False
    # -s -w removes DWARF and the symbol table, and nothing that is mapped at run time changes
    # more than the removed sections' size.
    assert full["debug_bytes"] > 100_000 and sw["debug_bytes"] == 0
    assert full["symtab_bytes"] > 10_000 and sw["symtab_bytes"] == 0
    assert sw["file_size_bytes"] < full["file_size_bytes"]
    assert full["file_size_bytes"] == os.path.getsize(built["hello"])


def test_elf_summary_figures(built: dict[str, str]) -> None:
    info = inspector.inspect_file(built["web"])
    s = inspector.summary(info)
    assert s["format"] == "ELF" and s["arch"] in ("x86_64", "aarch64")
    # Go's linux/amd64 linker writes three PT_LOAD segments: text, rodata, data.
    if s["arch"] == "x86_64":
        assert s["segments"] == 3 and s["segment_alignment"] == 0x1000
    assert s["mapped_size_bytes"] == sum(seg["mem_size_bytes"] for seg in info["segments"])
    names = {sec["name"] for sec in info["sections"]}
    assert {".text", ".rodata", ".gopclntab", ".data", ".bss", ".noptrbss"} <= names
    assert s["dynamic"] is False and s["relocations"] == 0
    text = next(sec for sec in info["sections"] if sec["name"] == ".text")
    seg0 = info["segments"][0]
    assert seg0["perms"] == "r-x"
    assert seg0["vaddr"] <= text["vaddr"] < seg0["vaddr"] + seg0["mem_size_bytes"]


def test_floor_is_tiny_and_static(built: dict[str, str]) -> None:
    if "floor" not in built:
        pytest.skip("no C compiler")
    s = inspector.summary(inspector.inspect_file(built["floor"]))
    assert s["file_size_bytes"] < 20_000 and s["mapped_size_bytes"] < 8192
    assert s["dynamic"] is False and s["go_version"] is None


def test_pe_long_section_names_resolved(cross_built: dict[str, str]) -> None:
    info = inspector.inspect_file(cross_built["hello-windows-amd64"])
    names = [s["name"] for s in info["sections"]]
    assert not any(n.startswith("/") for n in names), names
    assert ".text" in names and any(n.startswith(".zdebug_") or n.startswith(".debug_")
                                    for n in names)
    assert info["pe"]["imports"] == ["kernel32.dll"]
    assert info["pe"]["base_relocations"] > 0


def test_macho_load_commands(cross_built: dict[str, str]) -> None:
    info = inspector.inspect_file(cross_built["hello-darwin-arm64"])
    m = info["macho"]
    by = m["load_commands_by_type"]
    assert sum(v["count"] for v in by.values()) == m["load_commands"]
    assert sum(v["bytes"] for v in by.values()) == m["load_commands_bytes"]
    assert by["SEGMENT_64"]["count"] == len(info["segments"])
    assert "/usr/lib/libSystem.B.dylib" in m["dylibs"]
    seg_names = [s["name"] for s in info["segments"]]
    assert seg_names[0] == "__PAGEZERO" and "__LINKEDIT" in seg_names
    # __PAGEZERO reserves 4 GiB of address space and maps nothing: not in mapped size.
    assert info["mapped_size_bytes"] < 1 << 32


def _file(d: Path, name: str, data: bytes) -> Path:
    (d / name).write_bytes(data)
    return d / name


@pytest.mark.parametrize(("make", "needle"), [
    (lambda d: d, "is a directory"),
    (lambda d: d / "missing", "no such file"),
    (lambda d: _file(d, "empty", b""), "too short"),
    (lambda d: _file(d, "rand", os.urandom(4096)), "not an ELF"),
    (lambda d: _file(d, "s.sh", b"echo hi\n"), "not an ELF"),
])
def test_errors_are_one_line(tmp_path: Path, make, needle: str) -> None:  # type: ignore[no-untyped-def]
    p = make(tmp_path)
    with pytest.raises(inspector.InspectError) as e:
        inspector.inspect_file(p)
    assert needle in str(e.value) and "\n" not in str(e.value)
    res = CliRunner().invoke(cli, ["inspect", "--json", str(p)])
    assert res.exit_code == 2
    assert res.output.count("\n") == 1 and needle in res.output
    assert "Traceback" not in res.output


def test_truncated_elf(tmp_path: Path, built: dict[str, str]) -> None:
    data = Path(built["hello"]).read_bytes()
    p = tmp_path / "trunc"
    p.write_bytes(data[:200])
    res = CliRunner().invoke(cli, ["inspect", str(p)])
    # LIEF may still read the headers of a truncated file; either it is reported or refused in
    # one line, never a traceback.
    assert "Traceback" not in res.output
    if res.exit_code:
        assert res.exit_code == 2 and res.output.count("\n") == 1


def test_inspect_json_lists_several_files(built: dict[str, str]) -> None:
    res = CliRunner().invoke(cli, ["inspect", "--json", built["hello"], built["web"]])
    assert res.exit_code == 0
    data = json.loads(res.output)
    assert [Path(d["path"]).name for d in data] == [Path(built["hello"]).name,
                                                    Path(built["web"]).name]
    for key in ("format", "arch", "entry", "file_size_bytes", "mapped_size_bytes", "segments",
                "sections", "elf", "macho", "pe", "go", "debug_bytes", "symtab_bytes"):
        assert key in data[0]


def test_isolated_inspection_survives_what_would_kill_the_run(tmp_path: Path) -> None:
    import os
    import sys

    from loadbench import inspector

    if os.name != "posix":
        pytest.skip("the isolation needs POSIX resource limits")
    good = sys.executable
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    res = inspector.inspect_isolated([good, str(fifo), "/etc/hostname", good])
    assert isinstance(res[0], dict) and res[0]["format"] == "ELF"
    assert isinstance(res[1], inspector.InspectError) and "not a regular file" in str(res[1])
    assert isinstance(res[2], inspector.InspectError)
    assert isinstance(res[3], dict) and res[3] == res[0]
    # a parse that runs out of memory is one file's error, and the next file still works
    starved = inspector.inspect_isolated([good], memory_bytes=64 << 20)
    assert isinstance(starved[0], inspector.InspectError)
    assert "ran out of its 64 MiB of memory or crashed" in str(starved[0])
    assert isinstance(inspector.inspect_isolated([good])[0], dict)
