"""Capture a fixture of the bpf probe: real bpftrace output of real launches, for tests/data/bpf/.

    python scripts/capture_bpf_fixture.py NAME [--regions kernel|page] [--launches N]
        [--cold] [--execve] BIN...

Runs one session of the bpf probe's program over BIN... (interleaved, N launches in all) and
writes, next to each other in tests/data/bpf/:

  NAME.bpftrace.jsonl  bpftrace's stdout, line for line (`bpftrace -f json -k PROGRAM ...`)
  NAME.launches.tsv    the launcher's result lines for the same launches (rusage per launch)
  NAME.program.bt      the program that ran (the template filled for these binaries)
  NAME.meta.json       what the tests need to rebuild the session without the binaries: each
                       binary's inspector layout, main symbol, inode/device, its interpreter's
                       layout, the vDSO geometry, kernel features, options and the region table

Needs root and bpftrace. The tests replay the parsers and the fold on these files.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadbench import inspector, launch_native  # noqa: E402
from loadbench.bpf import program, regions, session  # noqa: E402
from loadbench.perf import layout  # noqa: E402
from loadbench.probes import asset_path  # noqa: E402
from loadbench.probes.base import Schedule, Target  # noqa: E402
from loadbench.probes.linux_bpf import TEMPLATE_ASSET, BpfProbe  # noqa: E402

ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C"}
_INFO_KEYS = ("path", "format", "entry", "segments", "elf", "sections")


def layout_meta(path: str) -> dict[str, object]:
    import lief

    real = os.path.realpath(path)
    info = inspector.inspect_file(real)
    kept = {k: info[k] for k in _INFO_KEYS}
    kept["sections"] = [s for s in info["sections"] if s.get("mapped")]
    kept["go"] = {"version": info["go"]["version"]} if info.get("go") else None
    lief.logging.disable()
    b = lief.ELF.parse(real)
    symbols = {}
    for name in ("main.main", "main"):
        sym = b.get_symbol(name) if b.has_symbol(name) else None
        if sym is not None and sym.value:
            symbols[name] = int(sym.value)
    return {"info": kept, "symbols": symbols, "has_symtab": len(b.symtab_symbols) > 0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name")
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--regions", default="kernel", choices=program.REGION_MODES)
    ap.add_argument("--launches", type=int, default=4)
    ap.add_argument("--cold", action="store_true", help="evict the binaries before each launch")
    ap.add_argument("--execve", action="store_true", help="add the sys_enter_execve marker")
    ap.add_argument("--out", default=str(ROOT / "tests" / "data" / "bpf"))
    a = ap.parse_args()
    probe = BpfProbe(regions=a.regions, execve=a.execve)  # checks availability, mounts tracefs
    metas, targets, devs = [], [], []
    for i, b in enumerate(a.binaries):
        real = os.path.realpath(b)
        m = layout_meta(real)
        lay = layout.load_layout(real)
        interp = None
        if lay.interpreter:
            ip_real = os.path.realpath(lay.interpreter)
            m["interp"] = layout_meta(ip_real)
            interp = regions.interp_from_layout(layout.load_layout(ip_real))
        st = os.stat(real)
        m["inode"], m["dev"] = st.st_ino, program.kernel_dev(st.st_dev)
        metas.append(m)
        targets.append(regions.BpfTarget(i, lay, st.st_ino, interp))
        devs.append((st.st_ino, m["dev"]))
    with open("/proc/self/maps") as f:
        maps_text = f.read()
    geom = regions.parse_vdso_geometry(maps_text)
    features = probe._features
    options = program.Options(regions=a.regions, execve=a.execve)
    prog = program.render(asset_path(TEMPLATE_ASSET).read_text(), targets, devs, options,
                          features, geom)
    order = [i % len(targets) for i in range(a.launches)]
    evict = {i: [t.layout.path] for i, t in enumerate(targets)} if a.cold else None
    launcher = launch_native.ensure_launcher()
    sched = Schedule(targets=tuple(Target(Path(t.layout.path).name, t.layout.path)
                                   for t in targets), order=tuple(order), env=ENV)
    res = session.record(probe._bpftrace, prog.text, launcher, sched, evict, map_keys=65536,
                         keep_lines=True, unsafe=prog.unsafe)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{a.name}.bpftrace.jsonl").write_text("".join(res.lines))
    (out / f"{a.name}.launches.tsv").write_text(
        "".join("\t".join("" if v is None else str(v) for v in raw) + "\n" for raw in res.raws)
    )
    (out / f"{a.name}.program.bt").write_text(prog.text)
    meta = {
        "command": " ".join(["python", "scripts/capture_bpf_fixture.py", *sys.argv[1:]]),
        "kernel": platform.release(),
        "bpftrace": probe.tool_version(),
        "env": ENV,
        "order": order,
        "cold": a.cold,
        "options": {"regions": a.regions, "uprobes": True, "execve": a.execve},
        "features": {"prepare_exec": features.prepare_exec, "group_dead": features.group_dead,
                     "maple_tree": features.maple_tree},
        "vdso_geometry": None if geom is None else {"vvar_before": geom.vvar_before,
                                                   "vdso_size": geom.vdso_size},
        "targets": metas,
        "region_table": [[r.name, r.segment] for r in prog.table.regions],
        "uprobes": [[u.target, u.role, u.vaddr] for u in prog.uprobes],
    }
    (out / f"{a.name}.meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{a.name}: {len(res.raws)} launches, {len(res.lines)} output lines -> {out}")


if __name__ == "__main__":
    main()
