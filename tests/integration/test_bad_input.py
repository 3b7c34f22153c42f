"""The bad-input battery: the real CLI on each case gives one line naming the problem and what
to do, a non-zero exit code, no traceback, and leaves no partial or corrupt output."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import proctree  # tests/integration/proctree.py
import pytest

from loadbench import storage

pytestmark = pytest.mark.integration


def lb(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loadbench", *args], capture_output=True,
                          text=True, timeout=timeout)


def one_line_error(cp: subprocess.CompletedProcess[str], needle: str) -> str:
    assert cp.returncode == 2, (cp.returncode, cp.stdout, cp.stderr)
    assert "Traceback" not in cp.stderr + cp.stdout
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1, cp.stderr
    assert lines[0].startswith("loadbench: error: ")
    assert needle in lines[0], lines[0]
    print(f"    {lines[0]}")
    return lines[0]


def _exe(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o755)
    return path


@pytest.fixture()
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


def _no_record(out: Path) -> None:
    assert not (out / "record.json").exists()


def test_missing_path(tmp_path: Path, out: Path) -> None:
    one_line_error(lb("run", str(tmp_path / "nope"), "--out", str(out)), "no such file")
    _no_record(out)


def test_directory(tmp_path: Path, out: Path) -> None:
    one_line_error(lb("run", str(tmp_path), "--out", str(out)), "is a directory")


def test_not_executable(tmp_path: Path, out: Path, built: dict[str, str]) -> None:
    p = tmp_path / "hello"
    shutil.copy(built["hello"], p)
    p.chmod(0o644)
    one_line_error(lb("run", str(p), "--out", str(out)), "not executable; chmod +x")
    _no_record(out)


def test_empty_file(tmp_path: Path, out: Path) -> None:
    one_line_error(lb("run", str(_exe(tmp_path / "e", b"")), "--out", str(out)), "empty file")
    _no_record(out)


@pytest.mark.parametrize("case", ["random", "truncated-elf", "other-arch", "no-shebang"])
def test_binaries_that_cannot_start(case: str, tmp_path: Path, out: Path,
                                    built: dict[str, str], cross_built: dict[str, str]) -> None:
    if case == "random":
        p = _exe(tmp_path / "rand", os.urandom(4096))
    elif case == "truncated-elf":
        p = _exe(tmp_path / "trunc", Path(built["hello"]).read_bytes()[:3000])
    elif case == "other-arch":
        if Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
            pytest.skip("qemu binfmt would run the arm64 binary")
        p = _exe(tmp_path / "arm64", Path(cross_built["hello-linux-arm64"]).read_bytes())
    else:
        p = _exe(tmp_path / "script", b"echo hello\n")
    line = one_line_error(lb("run", str(p), "--runs", "3", "--warmup", "0", "--out", str(out)),
                          "every launch failed")
    assert "Exec format error" in line or "killed by" in line
    # every failed launch is in the record, with its status: nothing turned into a number
    rec = storage.load_record(out)
    assert len(rec.measurements[0].samples) == 3
    assert not rec.measurements[0].ok_samples()


def test_bad_records(tmp_path: Path) -> None:
    cases = {"notjson.json": ("{oops", "not valid JSON"),
             "trunc.json": ('{"schema_version": 1, "measurements": [', "not valid JSON"),
             "newer.json": ('{"schema_version": 99}', "newer than this loadbench")}
    for name, (content, needle) in cases.items():
        p = tmp_path / name
        p.write_text(content)
        one_line_error(lb("stats", str(p)), needle)
        one_line_error(lb("compare", str(p)), needle)


def test_unwritable_output(built: dict[str, str]) -> None:
    one_line_error(lb("run", built["hello"], "--out", "/dev/null/out"),
                   "cannot create the output directory")


def test_full_disk(tmp_path: Path, built: dict[str, str]) -> None:
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tiny tmpfs here (needs root)")
    try:
        cp = lb("run", built["hello"], "--runs", "400", "--out", str(mnt / "out"))
        line = one_line_error(cp, "No space left on device")
        assert "free space or choose another --out" in line
        # whatever is on disk is a complete, valid record or nothing at all
        rec_path = mnt / "out" / "record.json"
        if rec_path.exists() and rec_path.stat().st_size:
            json.loads(rec_path.read_text())
        assert not list((mnt / "out").glob(".record.json.*.tmp"))
        # A disk with no room at all: the lock file was the first write, and its ENOSPC came
        # out as a traceback.
        _fill(mnt)
        cp = lb("run", built["hello"], "--runs", "5", "--out", str(mnt / "out2"))
        one_line_error(cp, "No space left on device")
        assert not (mnt / "out2" / "record.lock").exists()
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def _fill(mnt: Path) -> None:
    fd = os.open(mnt / "fill", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


@pytest.mark.parametrize(("args", "needle"), [
    (["run", "/bin/true", "--runs", "-5"], "'--runs': -5 is not in the range x>=1"),
    (["run", "/bin/true", "--warmup", "-1"], "'--warmup': -1 is not in the range x>=0"),
    (["run", "/bin/true", "--probe", "nope"], "unknown probe 'nope'"),
    (["run", "/bin/true", "--cache", "hot"], "Invalid value for '--cache'"),
    (["run", "/bin/true", "--runs", "many"], "'many' is not a valid integer"),
    (["run", "/bin/true", "--target-ci", "-1"], "'--target-ci': -1.0 is not in the range x>0"),
    (["run", "/bin/true", "--affinity", "4096"], "CPU 4096 is not available"),
    (["run", "/bin/true", "--affinity", "one"], "expected CPU numbers like 1, 0,2 or 0-3"),
    (["bench", "--quick", "--affinity", "9-3"], "'9-3' is not a CPU range"),
    (["bench", "--preset", "nope"], "unknown preset 'nope'"),
    (["compare", "/nonexistent/record.json"], "no such record file"),
    (["inspect", "/etc/passwd"], "not an ELF, PE or Mach-O binary"),
    (["etl", "summarize", "/etc/passwd"], "ETL"),
])
def test_nonsense_options(args: list[str], needle: str, tmp_path: Path) -> None:
    if args[0] == "run":
        args = [*args, "--out", str(tmp_path / "o")]
    one_line_error(lb(*args), needle)


def test_failing_targets_are_counted_and_excluded(tmp_path: Path, built: dict[str, str]) -> None:
    sh = shutil.which("sh") or "/bin/sh"
    flaky = _exe(tmp_path / "flaky", b"#!" + sh.encode() + b"\n"
                 b"n=$(cat " + str(tmp_path / "n").encode() + b" 2>/dev/null || echo 0)\n"
                 b"echo $((n+1)) > " + str(tmp_path / "n").encode() + b"\n"
                 b"case $((n % 4)) in 1) kill -SEGV $$;; 2) exit 7;; 3) sleep 5;; esac\n"
                 b"yes | head -c 200000\n")
    out = tmp_path / "out"
    cp = lb("run", str(flaky), built["hello"], "--runs", "8", "--warmup", "0", "--timeout",
            "0.5", "--seed", "1", "--out", str(out), "--json")
    assert cp.returncode == 0, cp.stderr
    rows = {r["name"]: r for r in json.loads(cp.stdout)["measurements"]}
    f = rows["flaky"]
    assert f["n"] == 2 and f["failed"] == 6
    assert f["failed_by_status"] == {"signaled": 2, "exit-nonzero": 2, "timeout": 2}
    assert f["failed_reasons"] == {"killed by SIGSEGV": 2, "exit code 7": 2,
                                   "killed at the timeout": 2}
    # the failures are excluded from the latency figures: the two ok launches only
    rec = storage.load_record(out)
    ok = [s.wall_ns for s in rec.measurement("flaky").ok_samples()]
    assert len(ok) == 2 and f["median_ns"] == pytest.approx(sum(ok) / 2)
    from loadbench.report import markdown

    md = markdown.render(rec)
    assert "flaky: 6 failed launches (2 exit-nonzero, 2 signaled, 2 timeout), excluded from " \
           "latency figures: 2x killed by SIGSEGV; 2x exit code 7; 2x killed at the timeout" in md


def test_binary_deleted_mid_run(tmp_path: Path, built: dict[str, str]) -> None:
    exe = tmp_path / "hello"
    shutil.copy2(built["hello"], exe)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "loadbench", "run", str(exe), "--runs",
                             "20000", "--warmup", "0", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (out / "record.json").exists() and storage.load_record(out).measurements[0].samples:
            break
        time.sleep(0.1)
    exe.unlink()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert err.strip().count("\n") == 0 and "was deleted during the run" in err
    rec = storage.load_record(out)
    assert not rec.complete and "deleted" in rec.end_reason
    assert rec.measurements[0].ok_samples()


def test_sigint_keeps_finished_launches_and_resume_completes(tmp_path: Path,
                                                             built: dict[str, str]) -> None:
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "loadbench", "run", built["hello"],
                             built["web"], "--runs", "2500", "--warmup", "2", "--out", str(out),
                             "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=proctree.sigint_default)
    time.sleep(4)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    rec = storage.load_record(out)
    n = sum(len(m.samples) for m in rec.measurements)
    assert not rec.complete and rec.end_reason == "interrupted by SIGINT", err
    assert 0 < n < 5000
    assert not list(Path("/tmp").glob(f"loadbench-schedule-{proc.pid}-*"))
    cp = lb("run", "--resume", str(out), "-q", "--json", timeout=300)
    assert cp.returncode == 0, cp.stderr
    rec = storage.load_record(out)
    assert rec.complete and rec.end_reason == "done (resumed 1x)"
    assert [len(m.samples) for m in rec.measurements] == [2500, 2500]
    idx = sorted(s.index for m in rec.measurements for s in m.samples)
    assert idx == list(range(5000))
    one_line_error(lb("run", "--resume", str(out)), "complete already")


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGINT])
def test_a_signal_started_ignored_stays_ignored(sig: int, tmp_path: Path,
                                                built: dict[str, str]) -> None:
    """`nohup loadbench run ...` (SIGHUP ignored) and a shell script's background job (SIGINT
    ignored) must outlive a closed terminal and a Ctrl-C meant for the foreground: loadbench
    installed its own handlers over the inherited SIG_IGN and stopped the run."""
    out = tmp_path / "out"

    def ignore() -> None:
        signal.signal(sig, signal.SIG_IGN)

    proc = subprocess.Popen([sys.executable, "-m", "loadbench", "run", built["hello"],
                             "--runs", "5000", "--warmup", "0", "--out", str(out), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ignore)
    time.sleep(2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    rec = storage.load_record(out)
    assert rec.complete and rec.end_reason == "done", err
    assert len(rec.measurements[0].samples) == 5000


def test_resume_refuses_a_changed_launcher(tmp_path: Path, built: dict[str, str]) -> None:
    out = tmp_path / "out"
    assert lb("run", built["hello"], "--runs", "20", "--out", str(out), "-q").returncode == 0
    data = json.loads((out / "record.json").read_text())
    settings = data["probe"]["settings"]
    assert settings["launcher_spawn"] == "vfork" and len(settings["launcher_source_sha256"]) == 64
    # As if the run had been stopped half-way by an older loadbench with another launcher.
    import dataclasses

    rec = storage.load_record(out)
    m = dataclasses.replace(rec.measurements[0], samples=rec.measurements[0].samples[:10])
    probe = dataclasses.replace(rec.probe, settings={**settings,
                                                     "launcher_source_sha256": "0" * 64})
    storage.save_record(out / "record.json", dataclasses.replace(
        rec, complete=False, measurements=(m,), probe=probe))
    one_line_error(lb("run", "--resume", str(out)), "launcher changed since the run started")
    assert len(storage.load_record(out).measurements[0].samples) == 10  # nothing added


def test_two_runs_into_one_directory(tmp_path: Path, built: dict[str, str]) -> None:
    out = tmp_path / "out"
    procs = [subprocess.Popen([sys.executable, "-m", "loadbench", "run", built["hello"],
                               "--runs", "50", "--out", str(out), "-q"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], results
    loser = next(err for p, (_, err) in zip(procs, results, strict=True) if p.returncode == 2)
    assert "exists already" in loser or "is measuring into this record" in loser
    rec = storage.load_record(out)
    assert rec.complete and len(rec.measurements[0].samples) == 50


def test_sigkill_leaves_a_valid_record_and_the_next_run_cleans_up(tmp_path: Path,
                                                                  built: dict[str, str]) -> None:
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "loadbench", "run", built["hello"], "--runs",
                             "4000", "--warmup", "0", "--out", str(out), "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # a batch saved, and the next one in flight (a launcher reading its schedule from an
        # in-memory file of ours, /proc/PID/fd/N, is running)
        if (out / "record.json").exists() and storage.load_record(out).measurements[0].samples \
                and subprocess.run(["pgrep", "-f", f"/proc/{proc.pid}/fd/"],
                                   capture_output=True).returncode == 0:
            break
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    rec = storage.load_record(out)  # valid JSON, every batch written before the kill
    assert not rec.complete and rec.end_reason == "running"
    assert len(rec.measurements[0].samples) > 0
    # the launcher notices its parent died and stops after the launch in flight (its schedule
    # is an in-memory file of the dead process, /proc/PID/fd/N)
    time.sleep(1.0)
    left = subprocess.run(["pgrep", "-f", f"/proc/{proc.pid}/fd/"],
                          capture_output=True, text=True).stdout.split()
    assert left == []
    # and no file on disk is left behind: schedule and results never had a name
    assert not list(Path("/tmp").glob(f"loadbench-*{proc.pid}-*"))
    # and the killed run can be resumed
    cp = lb("run", "--resume", str(out), "-q", timeout=600)
    assert cp.returncode == 0, cp.stderr
    assert len(storage.load_record(out).measurements[0].samples) == 4000


def test_noexec_mount_says_so(tmp_path: Path, built: dict[str, str], out: Path) -> None:
    mnt = tmp_path / "nx"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "noexec,size=4m", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a noexec tmpfs here (needs root)")
    try:
        exe = mnt / "hello"
        shutil.copy2(built["floor"], exe)
        one_line_error(lb("run", str(exe), "--out", str(out)), "mounted noexec")
        _no_record(out)
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_stopped_build_leaves_no_go_running_and_no_temp_dirs(sig: int, tmp_path: Path) -> None:
    # a cold cache: the build of web takes long enough to be stopped in the middle
    env = {**os.environ, "LOADBENCH_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "loadbench", "build", "--target", "web",
                             "--out", str(tmp_path / "bin")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=proctree.sigint_default)
    deadline = time.monotonic() + 120
    go_pids: list[str] = []
    while time.monotonic() < deadline and not go_pids:
        go_pids = subprocess.run(["pgrep", "-f", f"{tmp_path}/cache/"], capture_output=True,
                                 text=True).stdout.split()
        go_pids = [p for p in go_pids if p != str(proc.pid)]
        time.sleep(0.1)
    assert go_pids, "the go build never started"
    time.sleep(1.0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (128 + sig, 130), (proc.returncode, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", f"{tmp_path}/cache/"], capture_output=True,
                          text=True).stdout.split()
    assert left == [], "a go process outlived loadbench"
    assert not list(Path(tempfile.gettempdir()).glob(f"loadbench-gotmp-{proc.pid}-*"))


def test_no_usable_temporary_folder() -> None:
    """/tmp, /var/tmp and the working folder all unusable (full or, here, read-only): the perf
    probe's and the builder's scratch folders came out as a traceback (FileNotFoundError from
    ``tempfile``). The rusage probe needs no temporary file (the launcher speaks through
    in-memory files) and still runs. Runs in a private mount namespace so the host's /tmp is
    never touched."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) for a private mount namespace")
    out = Path(tempfile.mkdtemp(prefix="lb-notmp-", dir="/dev/shm"))
    script = (
        "set -e\n"
        # read-only, not hidden: the interpreter running the tests may live under /tmp
        "for d in /tmp /var/tmp; do mount --bind $d $d && mount -o remount,bind,ro $d; done\n"
        "cd /tmp\n"
        f"{sys.executable} -m loadbench \"$@\"\n"
    )

    def in_ns(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("TMPDIR", "TEMP", "TMP")}
        env["LOADBENCH_CACHE"] = str(out / "cache")  # a cold cache: the build must run go
        return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                               "sh", *args], capture_output=True, text=True, timeout=300,
                              env=env, cwd="/")

    try:
        probe = in_ns("run", "/bin/true", "--runs", "3", "--out", str(out / "ok"))
        if "unshare failed" in probe.stderr or "mount:" in probe.stderr:
            pytest.skip(f"no private mount namespace here: {probe.stderr.strip()}")
        assert probe.returncode == 0, probe.stderr
        assert len(storage.load_record(out / "ok" / "record.json").measurements[0]
                   .ok_samples()) == 3
        if shutil.which("perf") is not None and Path("/sys/kernel/tracing/events").is_dir():
            line = one_line_error(in_ns("run", "/bin/true", "--probe", "perf", "--runs", "3",
                                        "--out", str(out / "perf")),
                                  "no usable temporary folder")
            assert "set TMPDIR" in line
        one_line_error(in_ns("build", "--target", "hello", "--out", str(out / "b")),
                       "no usable temporary folder")
        assert not (out / "b" / "hello").exists()
    finally:
        shutil.rmtree(out, ignore_errors=True)
