"""The bpf probe without bpftrace: the program generator, the output parser and the fold, on real
captured sessions (tests/data/bpf/, see its README), plus the region rules and availability."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from loadbench import _proc
from loadbench.bpf import ParseError, fold, program, regions
from loadbench.bpf.output import parse_output
from loadbench.launch_native import parse_line
from loadbench.perf.layout import PAGE, layout_from_info
from loadbench.probes import asset_path, linux_bpf, probe_class
from loadbench.probes.base import Availability
from loadbench.probes.rusage import sample_from_raw

DATA = Path(__file__).resolve().parents[1] / "data" / "bpf"
TEMPLATE = asset_path(linux_bpf.TEMPLATE_ASSET).read_text()


def _layout(m: Mapping[str, Any]) -> Any:
    return layout_from_info(m["info"], m["symbols"], has_symtab=m["has_symtab"],
                            path=m["info"]["path"])


class Capture:
    """One captured session, rebuilt from its files."""

    def __init__(self, name: str) -> None:
        self.meta = json.loads((DATA / f"{name}.meta.json").read_text())
        self.targets = []
        self.devs = []
        for i, m in enumerate(self.meta["targets"]):
            interp = regions.interp_from_layout(_layout(m["interp"])) if "interp" in m else None
            self.targets.append(regions.BpfTarget(i, _layout(m), m["inode"], interp))
            self.devs.append((m["inode"], m["dev"]))
        g = self.meta["vdso_geometry"]
        self.geom = regions.VdsoGeometry(**g) if g else None
        self.features = program.KernelFeatures(**self.meta["features"])
        self.options = program.Options(**self.meta["options"])
        self.program = program.render(TEMPLATE, self.targets, self.devs, self.options,
                                      self.features, self.geom)
        self.output = parse_output((DATA / f"{name}.bpftrace.jsonl").read_text().splitlines())
        self.raws = [parse_line(ln) for ln in
                     (DATA / f"{name}.launches.tsv").read_text().splitlines()]
        by_index = {t.index: t for t in self.targets}
        self.launches = fold.fold(
            self.output, by_index, self.program.table,
            regions.Classifier(by_index, self.geom), execve=self.options.execve,
            prepare_exec=self.features.prepare_exec,
        )
        self.matched = fold.match_launches(self.raws, self.launches)

    def name_of(self, raw: tuple[Any, ...]) -> str:
        return Path(self.targets[raw[0]].layout.path).name


@pytest.fixture(scope="module")
def captures() -> dict[str, Capture]:
    return {n: Capture(n) for n in ("web", "web-page", "mixed", "mixed-page", "hello-cold",
                                    "web-execve")}


def test_registry_and_import() -> None:
    cls = probe_class("bpf")
    assert cls is linux_bpf.BpfProbe
    assert cls.platforms == ("linux",)
    assert isinstance(cls.availability(), Availability)  # never raises, whatever the host


def test_program_is_the_captured_one(captures: dict[str, Capture]) -> None:
    # Same inputs, same program: the generator is deterministic and the template unchanged
    # since the capture (recapture the fixtures when it changes on purpose).
    for name, c in captures.items():
        assert c.program.text == (DATA / f"{name}.program.bt").read_text(), name
        assert [[r.name, r.segment] for r in c.program.table.regions] == c.meta["region_table"]
        assert not re.search(r"%%[A-Z_]+%%", c.program.text)


def test_uprobes_only_where_no_fault_marks_the_entry(captures: dict[str, Capture]) -> None:
    ups = {(captures["mixed"].targets[u.target].layout.name, u.role)
           for u in captures["mixed"].program.uprobes}
    # cgo and web-pie are dynamic: ld.so runs first, so the entry needs a uprobe; cmain's main
    # shares _start's page (the uprobe maps it, so _start would not fault); floor has no main;
    # hello-sw is stripped.
    assert ups == {("cgo", "entry"), ("cgo", "main"), ("web-pie", "entry"), ("web-pie", "main"),
                   ("cmain", "entry"), ("cmain", "main")}
    web = captures["web"].program
    assert [(u.role) for u in web.uprobes] == ["main"]  # static Go: entry = first fetch
    assert program.uprobe_pages(web.uprobes, 0) == 1


def test_modes_and_options_change_only_their_parts(captures: dict[str, Capture]) -> None:
    k, p = captures["web"].program.text, captures["web-page"].program.text
    assert "@sr[pid];" in k and "$v = $a - $sr.0;" in k  # placed in the kernel
    assert "@f[$s, $e, $a] = count();" in p and "$v = $a" not in p
    assert "sys_enter_execve" not in k
    assert "sys_enter_execve" in captures["web-execve"].program.text
    assert "maple_tree:ma_write" in k  # Go heap arenas
    assert "@dyn[pid]" not in k and "@dyn[pid]" in captures["mixed"].program.text
    with pytest.raises(ValueError, match="regions must be"):
        program.render(TEMPLATE, [], [], program.Options(regions="both"),
                       program.KernelFeatures(), None)


def test_unsafe_paths_are_refused(captures: dict[str, Capture]) -> None:
    t = captures["web"].targets[0]
    from dataclasses import replace

    bad = regions.BpfTarget(0, replace(t.layout, path="/tmp/a b:c/web"), 1)
    with pytest.raises(ValueError, match="cannot put this path in a uprobe"):
        program.render(TEMPLATE, [bad], [(1, 1)], program.Options(), program.KernelFeatures(),
                       None)


# ----------------------------------------------------------------------------- the tree


def _eval_tree(code: str, v: int) -> int:
    """Evaluate the generated ``if ($v < X) { A } else { B }`` / ``$r = N;`` subset."""
    code = code.strip()
    if not code:
        return 0
    m = re.fullmatch(r"\$r = (\d+);", code)
    if m:
        return int(m.group(1))
    m = re.match(r"if \(\$v < (0x[0-9a-f]+)\) \{", code)
    assert m, code[:80]
    depth, i = 1, m.end()
    while depth:
        depth += {"{": 1, "}": -1}.get(code[i], 0)
        i += 1
    then = code[m.end():i - 1]
    rest = code[i:].strip()
    assert rest.startswith("else {") and rest.endswith("}"), rest[:80]
    other = rest[len("else {"):-1]
    return _eval_tree(then if v < int(m.group(1), 16) else other, v)


def test_generated_tree_agrees_with_the_layout(captures: dict[str, Capture]) -> None:
    """The bpftrace binary search names the same region as ``layout.locate`` at every boundary
    and next to it, for every captured binary."""
    for c in (captures["web"], captures["mixed"]):
        table = regions.RegionTable()
        for t in c.targets:
            tree = regions.target_tree(t, table)
            lay = t.layout
            lo, hi = lay.span()
            points = {lo - 1, hi, hi + 1}
            for a, b, _ in regions.binary_intervals(lay):
                points |= {a - 1, a, a + 1, b - 1, b}
            for v in sorted(p for p in points if p >= 0):
                code = _eval_tree(tree, v)
                hit = lay.locate(v) if lo <= v < hi else None
                want = None if hit is None else regions.Region(
                    hit[1] or f"{hit[0]} (no section)", hit[0])
                got = table.region(code) if code else None
                assert got == want, (lay.name, hex(v), got, want)


def test_binary_intervals_cover_the_span_without_gaps(captures: dict[str, Capture]) -> None:
    for t in captures["mixed"].targets:
        iv = regions.binary_intervals(t.layout)
        assert all(a < b for a, b, _ in iv)
        assert all(iv[i][1] == iv[i + 1][0] for i in range(len(iv) - 1))
        assert iv[0][0] == t.layout.span()[0] and iv[-1][1] == t.layout.span()[1]


# ----------------------------------------------------------------------------- output


def test_parse_output_of_a_real_session(captures: dict[str, Capture]) -> None:
    out = captures["web"].output
    assert out.attached_probes and out.attached_probes > 10
    assert out.helper_errors == {} and out.lost_events == 0
    assert len(out.map("@pid")) == 3
    assert all(len(k) == 3 for k in out.map("@f"))
    assert all(isinstance(v, list) and len(v) == 7 for v in out.map("@x").values())
    assert "@st" not in out.maps  # cleared in END: per-pid state is not output


def test_parse_output_errors_and_helper_failures() -> None:
    out = parse_output([
        '{"type": "helper_error", "helper": "map_update_elem", "retcode": -7, "line": 1}',
        '{"type": "helper_error", "helper": "map_update_elem", "retcode": -7, "line": 1}',
        '{"type": "lost_events", "data": {"events": 3}}',
        '',
        '{"type": "map", "data": {"@n": 5}}',
        '{"type": "printf", "data": "ready\\n"}',
    ])
    assert out.helper_errors == {"map_update_elem": 2} and out.lost_events == 3
    assert out.map("@n") == {(): 5} and out.printed == ("ready\n",)
    with pytest.raises(ParseError, match="not a JSON line"):
        parse_output(["Attaching 3 probes..."])
    with pytest.raises(ParseError, match="not integers"):
        parse_output(['{"type": "map", "data": {"@x": {"a,b": 1}}}'])


# ----------------------------------------------------------------------------- the fold


def _extras(c: Capture) -> list[tuple[str, dict[str, Any], tuple[Any, ...]]]:
    out = []
    for raw, bl in zip(c.raws, c.matched, strict=True):
        assert bl is not None
        out.append((c.name_of(raw), bl.sample_extra(), raw))
    return out


def test_every_launch_matched_and_phases_sum_to_total(captures: dict[str, Capture]) -> None:
    for c in captures.values():
        for name, ex, raw in _extras(c):
            ph = ex["phases_ns"]
            parts = [v for k, v in ph.items() if k != "total"]
            assert all(v >= 0 for v in parts), (name, ph)
            assert sum(parts) == ph["total"], (name, ph)
            # fork -> exit happens inside the launcher's spawn -> wait4 window
            assert ph["total"] < raw[2], (name, ph["total"], raw[2])


def test_phase_names_per_kind_of_binary(captures: dict[str, Capture]) -> None:
    want = {
        "web": ["spawn", "exec_load", "to_entry", "runtime_init", "main_to_exit", "total"],
        "cgo": ["spawn", "exec_load", "to_interp", "ld_so", "runtime_init", "main_to_exit",
                "total"],
        "web-pie": ["spawn", "exec_load", "to_interp", "ld_so", "runtime_init", "main_to_exit",
                    "total"],
        "cmain": ["spawn", "exec_load", "to_entry", "runtime_init", "main_to_exit", "total"],
        "floor": ["spawn", "exec_load", "to_entry", "entry_to_exit", "total"],
        "hello-sw": ["spawn", "exec_load", "to_entry", "entry_to_exit", "total"],
    }
    seen = set()
    for c in (captures["web"], captures["mixed"]):
        for name, ex, _ in _extras(c):
            assert list(ex["phases_ns"]) == want[name], name
            seen.add(name)
    assert seen == set(want)
    exe = [ex for _, ex, _ in _extras(captures["web-execve"])]
    assert all(list(ex["phases_ns"])[:2] == ["spawn", "exec"] for ex in exe)


def test_missing_markers_say_why(captures: dict[str, Capture]) -> None:
    c = captures["mixed"]
    reasons = {t.index: {"main": t.layout.main_missing_reason}
               for t in c.targets if t.layout.main_missing_reason}
    by_index = {t.index: t for t in c.targets}
    launches = fold.fold(c.output, by_index, c.program.table,
                         regions.Classifier(by_index, c.geom), execve=False, prepare_exec=True,
                         reasons=reasons)
    for raw, bl in zip(c.raws, fold.match_launches(c.raws, launches), strict=True):
        assert bl is not None
        miss = bl.phases_missing()
        name = c.name_of(raw)
        if name == "hello-sw":
            assert miss["runtime_init"] == "no main marker: no main.main symbol (stripped: no " \
                                           "symbol table)"
        elif name == "floor":
            assert "no main symbol in the symbol table" in miss["main_to_exit"]
        else:
            assert miss == {}, (name, miss)


def test_fault_gap_to_rusage_is_a_constant_per_binary(captures: dict[str, Capture]) -> None:
    """rusage - traced = 1 (execve copying argv/envp) + 1 per page holding a uprobe: faults
    inside get_user_pages raise no page-fault tracepoint. A fault that gives up because a signal
    is pending (Go preempts its threads with SIGURG) is taken again and seen twice, counted once:
    the gap is then smaller, never larger."""
    gaps: dict[str, Counter[int]] = {}
    for c in captures.values():
        for name, ex, raw in _extras(c):
            traced = ex["trace_faults_minor"] + ex["trace_faults_major"]
            want = 1 + program.uprobe_pages(c.program.uprobes, c.targets[raw[0]].index)
            gap = raw[5] + raw[6] - traced
            assert want - 2 <= gap <= want, (name, raw[5] + raw[6], traced, want)
            gaps.setdefault(f"{name}:{want}", Counter())[gap] += 1
    for key, counts in gaps.items():
        want = int(key.rsplit(":", 1)[1])
        assert counts.most_common(1)[0][0] == want, (key, counts)
    assert sum(c[int(k.rsplit(":", 1)[1])] for k, c in gaps.items()) >= 0.9 * sum(
        sum(c.values()) for c in gaps.values())


def test_breakdowns_sum_to_the_traced_total(captures: dict[str, Capture]) -> None:
    for c in captures.values():
        for name, ex, _ in _extras(c):
            total = ex["trace_faults_minor"] + ex["trace_faults_major"]
            for key in ("faults_by_region", "faults_by_kind", "faults_by_phase"):
                assert sum(ex[key].values()) == total, (name, key)
            in_binary = sum(v for k, v in ex["faults_by_region"].items()
                            if k.startswith(".") or "(no section)" in k)
            assert sum(ex["faults_by_segment"].values()) == in_binary, name


def test_regions_where_they_belong(captures: dict[str, Capture]) -> None:
    for name, ex, _ in _extras(captures["web"]) + _extras(captures["mixed"]):
        reg = ex["faults_by_region"]
        if name in ("web", "web-pie", "cgo", "hello-sw"):
            assert reg["go heap"] > 50 and reg[".text"] > 5 and reg["stack"] >= 1, name
            assert reg["vdso"] >= 1 and reg[".bss"] >= 1, name
        if name in ("cgo", "web-pie"):
            assert reg["ld-linux-x86-64.so.2"] >= 5, name
            assert ex["faults_by_phase"]["ld_so"] > 10, name
        if name == "cgo":
            assert reg["libc.so.6"] > 10 and "ld.so.cache" in reg
        if name == "cmain":
            assert reg[".text"] >= 5 and reg["heap (brk)"] >= 1
        if name == "floor":
            assert set(reg) <= {".text", "stack", "LOAD1 r-x (no section)"}, reg
        assert "launcher memory (pre-exec)" not in reg or reg["launcher memory (pre-exec)"] <= 2
        assert "kernel" not in reg


def test_kernel_and_page_modes_place_faults_alike(captures: dict[str, Capture]) -> None:
    """The in-kernel classifier and the Python one after exit give the same regions: median
    per-launch counts of the two captures (separate launches) agree, and the kernel mode left
    few faults to be placed after exit."""
    for k_name, p_name in (("web", "web-page"), ("mixed", "mixed-page")):
        per: dict[str, dict[str, list[int]]] = {}
        for mode, c in (("kernel", captures[k_name]), ("page", captures[p_name])):
            for name, ex, _ in _extras(c):
                for region, n in ex["faults_by_region"].items():
                    per.setdefault(f"{name}:{region}", {}).setdefault(mode, []).append(n)
        for key, modes in per.items():
            if key.endswith(("go heap", "anonymous", "stack")):
                continue  # how the Go heap splits from other anonymous memory varies by launch
            k, p = sorted(modes.get("kernel", [0])), sorted(modes.get("page", [0]))
            km, pm = k[len(k) // 2], p[len(p) // 2]
            # fault-around maps a varying number of neighbouring pages per launch
            assert abs(km - pm) <= max(3, 0.25 * max(km, pm)), (key, k, p)
    placed_late = sum(n for (s, _, where), n in captures["web"].output.map("@f").items()
                      if where >= regions.REGION_CODE_LIMIT)
    assert placed_late <= 8 * 3  # web, 3 launches: kernel-mode and pre-exec faults only


def test_cold_cache_major_faults(captures: dict[str, Capture]) -> None:
    for _, ex, raw in _extras(captures["hello-cold"]):
        assert ex["trace_faults_major"] >= 1 and raw[6] >= 1


def test_fault_kinds_from_error_codes(captures: dict[str, Capture]) -> None:
    kinds: Counter[str] = Counter()
    for _, ex, _ in _extras(captures["web"]):
        kinds.update(ex["faults_by_kind"])
        assert ex["trace_faults_kernel_mode"] >= 1  # execve's stack set-up, at least
    assert set(kinds) == {"instruction-fetch", "read", "write", "copy-on-write"}


def test_samples_from_a_capture_serialise(captures: dict[str, Capture]) -> None:
    c = captures["mixed"]
    for i, (raw, bl) in enumerate(zip(c.raws, c.matched, strict=True)):
        assert bl is not None
        s = sample_from_raw(raw, i, **bl.sample_extra())
        json.dumps(s.to_json(), allow_nan=False)


def test_match_launches_skips_failed_spawns_and_checks_pids(
    captures: dict[str, Capture],
) -> None:
    c = captures["web"]
    raws = list(c.raws)
    failed = (0, 4, 100, 0, 0, 0, 0, 0, 2, None, raws[0][10], 0)  # vfork failed: no pid, no fork
    got = fold.match_launches([raws[0], failed, raws[1], raws[2]], c.launches)
    assert got[1] is None and [g.pid for g in got if g] == [r[-1] for r in raws]
    stranger = (*raws[1][:-1], 99999)
    assert fold.match_launches([raws[0], stranger], c.launches)[1] is None


def test_full_maps_leave_breakdowns_out(captures: dict[str, Capture]) -> None:
    c = captures["web"]
    lines = (DATA / "web.bpftrace.jsonl").read_text().splitlines()
    lines.append('{"type": "helper_error", "helper": "map_update_elem", "retcode": -7}')
    by_index = {t.index: t for t in c.targets}
    launches = fold.fold(parse_output(lines), by_index, c.program.table,
                         regions.Classifier(by_index, c.geom), execve=False, prepare_exec=True)
    for bl in launches.values():
        ex = bl.sample_extra()
        assert "maps were full" in ex["trace_error"] and "faults_by_region" not in ex
        assert "phases_ns" in ex  # markers are few and were kept


def test_first_fetch_must_be_at_the_entry(captures: dict[str, Capture]) -> None:
    c = captures["web"]
    lines = []
    for ln in (DATA / "web.bpftrace.jsonl").read_text().splitlines():
        if '"@fa"' in ln:
            d = json.loads(ln)
            d["data"]["@fa"] = {k: v + PAGE for k, v in d["data"]["@fa"].items()}
            ln = json.dumps(d)
        lines.append(ln)
    by_index = {t.index: t for t in c.targets}
    launches = fold.fold(parse_output(lines), by_index, c.program.table,
                         regions.Classifier(by_index, c.geom), execve=False, prepare_exec=True)
    for bl in launches.values():
        assert "entry" not in bl.markers
        assert "not at" in bl.missing["entry"]
        assert "exec_to_main" in bl.phases_ns()


# ----------------------------------------------------------------------------- rules


def test_vdso_geometry_from_maps() -> None:
    text = (
        "7f7510188000-7f751018c000 r--p 00000000 00:00 0          [vvar]\n"
        "7f751018c000-7f751018e000 r--p 00000000 00:00 0          [vvar_vclock]\n"
        "7f751018e000-7f7510190000 r-xp 00000000 00:00 0          [vdso]\n"
        "7ffc2edf4000-7ffc2ee15000 rw-p 00000000 00:00 0          [stack]\n"
    )
    g = regions.parse_vdso_geometry(text)
    assert g == regions.VdsoGeometry(vvar_before=0x6000, vdso_size=0x2000)
    assert regions.parse_vdso_geometry("00400000-00401000 r-xp 0 00:00 0 /bin/x\n") is None


def test_classifier_rules(captures: dict[str, Capture]) -> None:
    c = captures["mixed"]
    cgo = c.targets[0]
    facts = regions.LaunchFacts(
        target=0, start_code=cgo.min_exec_vaddr, start_stack=0x7FFC0000F000,
        env_end=0x7FFC0000FF00, vdso=0x7F0000100000, at_base=0x7F0000200000,
        start_brk=0x1000000, brk_end=0x1021000, xol=0x7FFFFFFFE000, arena=(0xC000000000,
                                                                           0xC004000000),
        vmas=(regions.FileVma(0x7F0000400000, 0x7F0000600000, 0, "libc.so.6"),),
    )
    cl = regions.Classifier({0: cgo}, c.geom)

    def where(addr: int, phase: int = regions.PH_ENTRY) -> str:
        return cl.classify(addr, phase, facts).name

    assert where(cgo.layout.entry_vaddr) == ".text"
    assert where(0x7FFC0000E000) == "stack"
    assert where(0x7F0000100000) == "vdso" and where(0x7F00000FF000) == "vvar"
    assert where(0x7F0000200000) == "ld-linux-x86-64.so.2"
    assert where(0xC000001000) == "go heap"
    assert where(0x1000800) == "heap (brk)"
    assert where(0x7FFFFFFFE000) == "uprobes (observer)"
    assert where(0x7F0000500000) == "libc.so.6"
    assert where(0x7F0000700000) == "anonymous"
    assert where(0x400000, regions.PH_SPAWN) == "launcher memory (pre-exec)"
    assert where(0xFFFF888000000000) == "kernel"


# ----------------------------------------------------------------------------- availability


def _unavailable(monkeypatch: pytest.MonkeyPatch, **kw: Any) -> str:
    monkeypatch.setattr(linux_bpf.sys, "platform", "linux")
    monkeypatch.setattr(linux_bpf._proc, "which", lambda n: kw.get("which", "/usr/bin/bpftrace"))
    version = kw.get("version", "bpftrace v0.17.0")

    def run(argv: Any, **k: Any) -> Any:
        if version is None:
            raise _proc.ToolError("bpftrace exited with 1: boom")
        return _proc.Completed(tuple(argv), 0, version, "")

    monkeypatch.setattr(_proc, "run", run)
    monkeypatch.setattr(linux_bpf.os, "geteuid", lambda: kw.get("euid", 0))
    real_exists = linux_bpf.os.path.exists
    monkeypatch.setattr(linux_bpf.os.path, "exists",
                        lambda p: kw.get("btf", True) if p == linux_bpf.BTF else real_exists(p))
    a = linux_bpf.BpfProbe.availability()
    assert not a.ok
    return a.reason


def test_availability_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "apt-get install bpftrace" in _unavailable(monkeypatch, which=None)
    assert "does not run" in _unavailable(monkeypatch, version=None)
    assert "too old" in _unavailable(monkeypatch, version="bpftrace v0.12.1")
    assert "not root" in _unavailable(monkeypatch, euid=1000)
    assert "BTF" in _unavailable(monkeypatch, btf=False)
    monkeypatch.setattr(linux_bpf.sys, "platform", "darwin")
    assert "Linux only" in linux_bpf.BpfProbe.availability().reason


def test_version_parsing() -> None:
    from loadbench.bpf.session import parse_version

    assert parse_version("bpftrace v0.17.0") == (0, 17, 0)
    assert parse_version("bpftrace v0.20.2-dirty") == (0, 20)
    assert parse_version("nonsense") is None


def test_map_keys_sizing() -> None:
    assert linux_bpf._map_keys(10) == 4096
    assert linux_bpf._map_keys(40_000) == 65536
    assert linux_bpf._map_keys(10**9) == linux_bpf.MAX_MAP_KEYS


def test_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linux_bpf.BpfProbe, "availability",
                        classmethod(lambda cls: Availability(True)))
    with pytest.raises(ValueError, match="regions must be kernel or page"):
        linux_bpf.BpfProbe(regions="all")
    with pytest.raises(ValueError, match="execve must be true or false"):
        linux_bpf.BpfProbe(execve="maybe")


def test_trace_summary_and_chrome_trace_of_bpf_launches(captures: dict[str, Capture]) -> None:
    from loadbench.perf.chrome import chrome_trace
    from loadbench.trace import TraceResult, render_summary, summary_json

    c = captures["web"]
    launches = tuple((sample_from_raw(raw, i, **bl.sample_extra()), bl)
                     for i, (raw, bl) in enumerate(zip(c.raws, c.matched, strict=True)))
    res = TraceResult(binary=c.targets[0].layout.path, launches=launches, out_dir=None,
                      chrome_trace_path=None, events=900, probe="bpf")
    text = render_summary(res)
    assert "bpf probe, 900 faults counted in kernel maps" in text
    assert "rusage - traced = 2" in text
    kinds = text.split("fault kinds by segment")[1]
    assert "LOAD2 r-x" in kinds and "outside the binary" in kinds
    phases = text.split("phases (median us):")[1].split("\n\n")[0].split()
    assert phases[::2] == ["spawn", "exec_load", "to_entry", "runtime_init", "main_to_exit",
                           "total"]
    js = summary_json(res)
    assert js["fault_kinds_by_segment_mean"]["LOAD2 r-x"]["instruction-fetch"] >= 30
    doc = chrome_trace(launches, binary=res.binary)
    json.dumps(doc, allow_nan=False)
    evs = doc["traceEvents"]
    assert not [e for e in evs if e["ph"] == "i"]  # bpf counts faults: no instants
    launch = [e for e in evs if e.get("cat") == "launch"]
    assert len(launch) == 3 and all("faults_by_phase" in e["args"] for e in launch)
    for e in launch:  # the phases nest inside the launch slice and fill it
        ph = [p for p in evs if p.get("cat") == "phase" and p["pid"] == e["pid"]]
        assert sum(p["args"]["dur_ns"] for p in ph) == e["args"]["dur_ns"]
