"""The Windows probes executed for real: Windows CPython under Wine, Go binaries from loadbench's
own builder, real CreateProcessW, job objects and CommandLineToArgvW.

Each test runs one task of ``windows_side.py`` in the session's Wine prefix and checks what the
probe recorded against what the target did (``probecheck`` exits with a code, sleeps, starts a
child, or writes back its argv and environment). The figures Wine does not implement are checked
to be the zeros the probe declares untrusted, so a Wine that starts implementing them fails here
and says what to update.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import winehost

from loadbench.probes import windows_job as wj

pytestmark = pytest.mark.wine

WIN_ENV = {"PATH": "C:\\windows\\system32", "LANG": "C"}
# What Wine adds to every child's environment besides what the parent passed (checked on 8.0).
WINE_ADDED = ("WINE", "SystemDrive=", "SystemRoot=")


def by_status(samples: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for s in samples:
        out.setdefault(s["status"], []).append(s)
    return out


def test_the_host_is_recorded_as_wine_on_linux(wine: winehost.WinePrefix) -> None:
    r = wine.python("host")
    version = subprocess.run(["wine", "--version"], capture_output=True, text=True).stdout
    assert r["wine"]["version"] in version  # "wine-8.0 (Debian 8.0~repack-4)"
    assert r["wine"]["host_os"] == "Linux" and r["wine"]["host_release"] == os.uname().release
    facts = r["facts"]
    assert facts["os"] == "Wine"
    assert facts["os_release"] == f"{r['wine']['version']} on Linux {os.uname().release}"
    assert "as Wine reports it" in facts["os_version"]
    assert facts["machine"] == "AMD64"
    # The Linux host's own facts, read through Wine's Z: drive.
    with open("/proc/cpuinfo") as f:
        model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    assert facts["cpu_model"] == model
    assert facts["cpu_count_logical"] == os.cpu_count()
    assert r["jiffies"] is not None and r["jiffies"][0] > 0
    assert len(facts["load_average"]) == 3
    for probe in (r["job_probe"], r["etw_probe"]):
        assert probe["settings"]["wine"] == f"Wine {r['wine']['version']} on Linux " \
                                            f"{os.uname().release}"
        assert probe["settings"]["untrusted_fields"] == wj.WINE_UNTRUSTED_FIELDS
    assert r["job_probe"]["version"] == "2"
    assert r["job_probe"]["tool_version"] == r["job_probe"]["settings"]["wine"]
    assert r["job_available"] == [True, ""]
    ok, reason = r["etw_available"]
    assert not ok and "cannot run under Wine" in reason and "windows-job" in reason
    assert r["is_admin"] is True  # Wine's users are admins: hence the Wine check before it


def test_getprocesstimes_cpu_times_are_the_callers_under_wine(
        wine: winehost.WinePrefix, win_bins: dict[str, str]) -> None:
    """The fact behind the probe's refusal to use them: a Go child's kernel+user time, read
    after it exited, is the calling Python's own (which spent ~100 ms computing first)."""
    r = wine.python("process_times", program=win_bins["hello"])
    assert r["caller_before_100ns"] > 500_000  # >= 50 ms: the caller's own work
    assert r["caller_before_100ns"] <= r["child_100ns"] <= r["caller_after_100ns"]


def test_statuses_timeout_and_the_job_lifecycle(wine: winehost.WinePrefix,
                                                win_bins: dict[str, str],
                                                tmp_path: Path) -> None:
    not_pe = tmp_path / "notpe.exe"
    not_pe.write_text("this is not a PE file\n")
    pc = win_bins["probecheck"]
    targets = [["hello", win_bins["hello"], []],
               ["exit3", pc, ["-exit", "3"]],
               ["missing", winehost.windows_path(tmp_path / "missing.exe"), []],
               ["notpe", winehost.windows_path(not_pe), []],
               # A child in the job and a target that outlives the timeout: both must die.
               ["hang", pc, ["-spawn", "60000", "-sleep", "60000"]],
               ["floor", win_bins["floor"], []]]
    order = [0, 1, 2, 3, 4, 5, 0]
    r = wine.python("launch", targets=targets, order=order, env=WIN_ENV, timeout_s=1.5,
                    first_index=40, watch=["probecheck.exe"])
    samples = r["samples"]
    assert [s["index"] for s in samples] == list(range(40, 47))
    hello, exit3, missing, notpe, hang, floor, hello2 = samples
    for s in (hello, hello2, floor):
        assert s["status"] == "ok" and s["exit_code"] == 0
        assert 1_000_000 < s["wall_ns"] < 1_500_000_000
        # The kernel's creation-to-exit span lies inside the launcher's wall time.
        assert 0 < s["kernel_lifetime_ns"] <= s["wall_ns"]
        assert s["exit_time_100ns"] - s["create_time_100ns"] == s["kernel_lifetime_ns"] // 100
        assert s["job_total_processes"] == 1 and s["pid"] > 0
    assert hello["pid"] != hello2["pid"]
    assert hello2["create_time_100ns"] > hello["exit_time_100ns"]
    assert exit3["status"] == "exit-nonzero" and exit3["exit_code"] == 3
    assert missing["status"] == "spawn-failed" and "[Errno 2]" in missing["spawn_error"]
    assert notpe["status"] == "spawn-failed" and "[Errno 193]" in notpe["spawn_error"]
    assert hang["status"] == "timeout" and hang["exit_code"] == wj.TIMEOUT_EXIT_CODE
    assert 1_500_000_000 <= hang["wall_ns"] < 6_000_000_000
    assert hang["job_total_processes"] == 2  # the child it started was in the job too
    assert r["left_running"] == []  # TerminateJobObject ended both
    # What Wine does not implement is 0 for every launch, and declared untrusted.
    for s in samples:
        if s["status"] != "spawn-failed":
            assert {k: s[k] for k in wj.WINE_UNTRUSTED_FIELDS} == dict.fromkeys(
                wj.WINE_UNTRUSTED_FIELDS, 0)
    assert r["probe"]["settings"]["untrusted_fields"] == wj.WINE_UNTRUSTED_FIELDS


TRICKY_ARGS = ["plain", "", "a b c", 'ab"c', "\\", "a\\\\\\b", 'a\\"b', "C:\\Program Files\\",
               "tab\there", "\u00e9\u4e2d\u6587", "end\\", '"', '\\\\"', "  ", "a=b", "%PATH%",
               "^&|<>", "new\nline", "'single'"]


def _random_args(seed: int, n: int) -> list[list[str]]:
    rng = random.Random(seed)
    alphabet = list(' \t\\"ab=\u00e9\u4e2d')
    return [["".join(rng.choice(alphabet) for _ in range(rng.randrange(8)))
             for _ in range(rng.randrange(1, 6))] for _ in range(n)]


def test_arguments_survive_commandlinetoargvw_and_go(wine: winehost.WinePrefix,
                                                     win_bins: dict[str, str],
                                                     tmp_path: Path) -> None:
    cases = [TRICKY_ARGS, *_random_args(14, 200)]
    program = "C:\\Program Files\\x y\\prog.exe"
    r = wine.python("argv", program=program, argv=cases)
    assert r["argv"] == [[program, *args] for args in cases]
    # And through a real launch: a program path with blanks, Go's own command-line parser.
    spaced = tmp_path / "dir with blanks" / "probe check.exe"
    spaced.parent.mkdir()
    shutil.copyfile(_linux(win_bins["probecheck"]), spaced)
    echo = tmp_path / "echo.json"
    args = ["-echo", winehost.windows_path(echo), *TRICKY_ARGS]
    target = ["echo", winehost.windows_path(spaced, for_cmd=False), args]
    r = wine.python("launch", targets=[target], order=[0], env=WIN_ENV)
    assert r["samples"][0]["status"] == "ok"
    assert json.loads(echo.read_text(encoding="utf-8"))["args"] == TRICKY_ARGS


def _linux(windows: str) -> str:
    assert windows.startswith("Z:")
    return windows[2:].replace("\\", "/")


def test_the_environment_block_arrives_exactly(wine: winehost.WinePrefix,
                                               win_bins: dict[str, str],
                                               tmp_path: Path) -> None:
    env = {**WIN_ENV, "LB_UNICODE": "\u00e9\u4e2d\u6587", "LB_BLANKS": " a  b ",
           "LB_EQUALS": "x=y=z", "lb_lower": "v", "LB_EMPTY": "", "LB_QUOTE": '"q"'}
    echo = tmp_path / "env.json"
    r = wine.python("launch", targets=[["echo", win_bins["probecheck"],
                                        ["-echo", winehost.windows_path(echo)]]],
                    order=[0], env=env)
    assert r["samples"][0]["status"] == "ok"
    got = json.loads(echo.read_text(encoding="utf-8"))["env"]
    ours = [e for e in got if not e.startswith(WINE_ADDED)]
    # Every variable, exactly, in the block's case-insensitive order; nothing inherited.
    assert ours == [f"{k}={v}" for k, v in sorted(env.items(), key=lambda kv: kv[0].upper())]
    assert not any(e.upper().startswith(("USERNAME=", "TEMP=", "PROGRAMFILES=")) for e in got)


def test_a_stop_request_ends_the_batch_after_the_launch_in_flight(
        wine: winehost.WinePrefix, win_bins: dict[str, str]) -> None:
    pc = win_bins["probecheck"]
    t0 = time.monotonic()
    r = wine.python("launch", targets=[["sleep", pc, ["-sleep", "1500"]]], order=[0] * 5,
                    env=WIN_ENV, stop_after_s=0.5, watch=["probecheck.exe"])
    took = time.monotonic() - t0
    (s,) = r["samples"]  # one launch, not five
    assert s["status"] == "ok" and s["wall_ns"] >= 1_500_000_000  # finished, not killed
    assert r["left_running"] == []
    assert took < 5 * 1.5  # the other four never started


def test_windows_etw_refuses_wine_and_keeps_job_figures_without_a_trace(
        wine: winehost.WinePrefix, win_bins: dict[str, str]) -> None:
    r = wine.python("etw", targets=[["hello", win_bins["hello"], []]], order=[0, 0],
                    env=WIN_ENV)
    assert r["refused"].startswith("windows-etw cannot run under Wine")
    assert [s["status"] for s in r["samples"]] == ["ok", "ok"]
    for plain, merged in zip(r["samples"], r["merged"], strict=True):
        assert merged == {**plain, "etw_matched": False}


def test_a_whole_run_under_wine_makes_a_record_that_says_wine(
        wine: winehost.WinePrefix, win_bins: dict[str, str], tmp_path: Path) -> None:
    from loadbench import merge, storage
    from loadbench.report import html, markdown

    out = tmp_path / "run"
    r = wine.python("record", out=winehost.windows_path(out), runs=8, warmup=1, seed=14,
                    env=WIN_ENV, null_binary=win_bins["floor"], calibrate_launches=8,
                    targets=[["hello", win_bins["hello"], []], ["web", win_bins["web"], []]])
    assert r["end_reason"] == "done"
    keep = os.environ.get("LOADBENCH_WINE_KEEP")
    if keep:
        shutil.copytree(out, keep, dirs_exist_ok=True)
    rec = storage.load_record(out / "record.json")
    assert rec.complete and rec.host["os"] == "Wine" and rec.host["wine"]["host_os"] == "Linux"
    assert rec.probe.name == "windows-job" and rec.probe.version == "2"
    assert set(rec.probe.settings["untrusted_fields"]) == set(wj.WINE_UNTRUSTED_FIELDS)
    assert rec.probe.overhead["null_launches"] == 8
    assert rec.probe.overhead["null_wall_ns_median"] > 0
    assert [m.name for m in rec.measurements] == ["hello", "web"]
    for m in rec.measurements:
        assert len(m.samples) == 8 and len(m.warmup) == 1
        assert {s.status for s in m.samples} == {"ok"}
        assert m.binary.summary["error"].endswith("not inspected: LIEF is not installed (lief)")
    # The reports on Linux: Wine's timings are labelled Wine's; unmeasured fields are n/a.
    md = markdown.render(rec).replace("\\_", "_")  # Markdown escapes underscores
    assert "| OS | Wine 8.0 on Linux " in md
    assert "not Windows figures" in md
    assert "n/a here): faults_minor, faults_total_windows, max_rss_bytes, sys_ns, user_ns" in md
    row = next(line for line in md.splitlines() if line.startswith("| hello |"))
    assert row.endswith("| n/a (n/a/n/a) | n/a |")
    page = html.render([rec])
    assert "not Windows figures" in page and "Wine 8.0 on Linux" in page
    assert "Faint dots are launches" not in page  # no plot of the faults it did not measure
    assert merge.host_label(rec.host).startswith("Wine 8.0 on Linux AMD64")  # merged columns


def test_closing_a_prefix_ends_all_its_processes_and_removes_it(
        wine_tools: dict[str, Path], win_bins: dict[str, str]) -> None:
    prefix = winehost.WinePrefix.create(wine_tools["python"], wine_tools["dll"])
    sleeper = None
    try:
        assert prefix.boot_s is not None and prefix.boot_s < 120
        assert (prefix.prefix / "drive_c/windows/system32/bcryptprimitives.dll").is_file()
        sleeper = subprocess.Popen(["wine", win_bins["probecheck"], "-sleep", "600000"],
                                   env=prefix.env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Running once Wine has given the Unix process the Windows command line.
        cmdline = Path(f"/proc/{sleeper.pid}/cmdline")
        deadline = time.monotonic() + 60
        while not cmdline.read_bytes().startswith(win_bins["probecheck"].encode()):
            assert time.monotonic() < deadline and sleeper.poll() is None
            time.sleep(0.05)
        running = prefix.linux_processes()
        assert sleeper.pid in running and len(running) >= 2  # it and the wineserver at least
        servers = prefix._server_dirs()
        assert len(servers) == 1, servers  # found, so that close() can remove it
    finally:
        try:
            prefix.close()
            if sleeper is not None:
                # Ended with its prefix, long before its 600 s (the exit code is Wine's own
                # business: 0, 1 and -3 were seen).
                sleeper.wait(timeout=10)
        finally:
            if sleeper is not None and sleeper.poll() is None:
                sleeper.kill()
                sleeper.wait()
    assert prefix.linux_processes() == [] and not prefix.root.exists()
    # wineserver's socket folder went too (107 /tmp/wine-XXXXXX were left by one day's runs)
    assert not servers[0].exists()
    prefix.close()  # idempotent


def test_the_native_prototype_speaks_the_launcher_protocol(
        wine: winehost.WinePrefix, win_bins: dict[str, str], tmp_path: Path) -> None:
    """scripts/bench_windows_launcher.py's instrument: the C twin of the ctypes loop reads
    launch_native's LB1 schedule and its lines parse with launch_native.parse_line."""
    root = Path(__file__).resolve().parents[2]
    proto = winehost.compile_windows(root / "scripts" / "windows_launcher_proto.c",
                                     tmp_path / "proto.exe", "-municode")
    r = wine.python("launchers", rounds=2, block=3, native=winehost.windows_path(proto),
                    env=WIN_ENV, targets=[["floor", win_bins["floor"]],
                                          ["hello", win_bins["hello"]]])
    assert r["statuses"] == {"ctypes": ["ok"] * 12, "native": ["ok"] * 12}
    for kind in ("ctypes", "native"):
        for name in ("floor", "hello"):
            walls = r["walls"][kind][name]
            assert len(walls) == 6 and all(1_000_000 < w < 2_000_000_000 for w in walls)
    assert 0 < r["ctypes_call_ns"] < 100_000
