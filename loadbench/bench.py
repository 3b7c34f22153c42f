"""The main job: build the default matrix, measure what runs here, write record and report.

``bench`` is the library function behind ``loadbench bench``; it writes into ``out_dir``:
``bin/`` (binaries and ``manifest.json``), ``static.json`` (the inspector's view of every built
binary, cross builds included), ``record.json`` (raw launches), ``report.md``, ``report.html``
and, for matrices that check claims, ``checks.json`` (the toolchain checks, run after the
builds and before any launch) and ``claims.json``. ``bench.json`` describes the bench and, once
it is done, how long each stage took (``wall_s``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadbench import builder, inspector, runner, storage
from loadbench.model import Record
from loadbench.report import markdown


@dataclass(frozen=True, slots=True)
class BenchResult:
    out_dir: Path
    record: Record
    manifest: builder.Manifest
    report_path: Path


def default_out_dir() -> Path:
    return Path("results") / runner.new_run_id()


def bench(
    out_dir: str | os.PathLike[str] | None = None,
    *,
    quick: bool = False,
    preset: str = "default",
    probe: str = "rusage",
    runs: int | None = None,
    warmup: int | None = None,
    seed: int | None = None,
    go: str | None = None,
    go_from_path: bool = False,
    cache: str = "warm",
    sessions: int | None = None,
    affinity: str | None = None,
    argv: Sequence[str] = (),
    progress: Callable[[int, int, str], None] | None = None,
) -> BenchResult:
    t_start = time.monotonic()
    wall: dict[str, float] = {}
    out = Path(out_dir) if out_dir is not None else default_out_dir()
    cpus = runner.parse_cpus(affinity) if affinity else None  # bad input fails before the builds
    if (out / "record.json").exists():
        raise runner.RunError(f"{out / 'record.json'} exists already; choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise runner.RunError(f"{out}: cannot create the output directory ({e.strerror})") from None
    from loadbench.builder.matrix import load_matrix

    cc = builder.find_cc()
    toolchain = builder.find_go(go, use_path=go_from_path)
    matrix = load_matrix(
        preset, quick=quick, with_cc=cc is not None, default_go_version=toolchain.version
    )
    variants = list(matrix.variants)

    def say(msg: str) -> None:
        if progress:
            progress(0, 0, msg)

    t0 = time.monotonic()
    manifest = builder.build(variants, out / "bin", go=toolchain, cc=cc, progress=say)
    wall["build"] = round(time.monotonic() - t0, 1)
    t0 = time.monotonic()
    static: list[dict[str, Any]] = []
    for b, info in zip(manifest.built, inspector.inspect_isolated([b.path for b in manifest.built]),
                       strict=True):
        if isinstance(info, inspector.InspectError):
            raise info
        static.append(
            {
                "name": b.name,
                "runnable": b.runnable,
                "goos": b.goos,
                "goarch": b.goarch,
                "toolchain": b.toolchain,
                "summary": inspector.summary(info),
                "detail": inspector.detail(info),
            }
        )
    storage.write_json_atomic(out / "static.json", {"static_version": 1, "binaries": static})
    wall["inspect"] = round(time.monotonic() - t0, 1)
    if matrix.claims:
        from loadbench import claimchecks

        # before any launch: the checks build and compile, which must not overlap measuring
        t0 = time.monotonic()
        checks = claimchecks.run_checks(manifest.to_json(), toolchain, quick=quick, cc=cc,
                                        progress=say)
        storage.write_json_atomic(out / "checks.json", checks)
        wall["checks"] = round(time.monotonic() - t0, 1)
    by_name = {b.name: b for b in manifest.built}
    targets = [
        runner.TargetSpec(name=b.name, path=b.path, build=b.to_json())
        for b in manifest.built
        if b.runnable
    ]
    floor = by_name.get("floor")
    options = runner.RunOptions(
        runs=runs or (40 if quick else 300),
        warmup=warmup if warmup is not None else (5 if quick else 20),
        seed=seed,
        probe=probe,
        cache=cache,
        null_binary=floor.path if floor else None,
        calibrate_launches=100 if quick else 500,
        affinity=cpus,
        # 3 even for --quick: with 2 sessions the t-interval has 1 degree of freedom (t = 12.7)
        # and every quick comparison came out inconclusive, web at 1.65x hello included
        sessions=sessions or 3,
    )
    title = f"loadbench bench: {matrix.name} matrix ({matrix.description})"
    meta = {
        "bench_version": 1, "title": title, "claims": matrix.claims, "quick": quick,
        "preset": preset,
        "go": {"path": toolchain.path, "version": toolchain.version,
               "source": toolchain.source}}
    storage.write_json_atomic(out / "bench.json", meta)
    say(f"measuring {len(targets)} binaries x {options.runs} launches")
    t0 = time.monotonic()
    record = runner.run(targets, out, options, argv=argv, progress=progress)
    wall["measure"] = round(time.monotonic() - t0, 1)
    t0 = time.monotonic()
    report_path = write_reports(out, record, progress=progress)
    wall["reports"] = round(time.monotonic() - t0, 1)
    wall["total"] = round(time.monotonic() - t_start, 1)
    storage.write_json_atomic(out / "bench.json", {**meta, "wall_s": wall,
                                                   "load_average_end": _loadavg()})
    return BenchResult(out_dir=out, record=record, manifest=manifest, report_path=report_path)


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def is_bench_dir(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / "bench.json").is_file()


def write_reports(out: Path, record: Record,
                  progress: Callable[[int, int, str], None] | None = None) -> Path:
    """claims.json (for matrices that check claims), report.md and report.html of a bench
    folder, from its record and the files the bench left beside it; a resume of a bench calls
    it again, so the reports never describe fewer launches than the record holds."""
    from loadbench.report import content, html

    meta = storage.read_json(out / "bench.json", what="bench description")
    static_doc = storage.read_json(out / "static.json", what="static inspection file")
    manifest = storage.read_json(out / "bin" / "manifest.json", what="build manifest")
    static = static_doc.get("binaries", []) if isinstance(static_doc, dict) else []
    claims = None
    if meta.get("claims"):
        from loadbench import claims as claims_mod

        go = meta.get("go") or {}
        toolchain = builder.GoToolchain(path=str(go.get("path", "")),
                                        version=str(go.get("version", "")),
                                        source=str(go.get("source", "")))
        checks = None
        if (out / "checks.json").is_file():
            checks = storage.read_json(out / "checks.json", what="claims checks file")
        claims = claims_mod.evaluate(record, static, manifest, toolchain,
                                     checks if isinstance(checks, dict) else None)
        storage.write_json_atomic(out / "claims.json", claims)
    if progress:
        progress(0, 0, "writing report.md and report.html (plots)")
    rc = content.report_content([("", record, static, manifest)], title=str(meta.get("title")),
                                claims=claims)
    report_path = out / "report.md"
    storage.write_text_atomic(report_path, markdown.render_content(rc))
    storage.write_text_atomic(out / "report.html", html.render_content(rc))
    return report_path
