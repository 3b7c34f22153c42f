"""The Windows side of the Wine tests: run by the official embeddable Windows CPython under Wine.

pytest cannot run there (its import reaches ``platform``'s WMI queries, which abort under Wine
8.0), so each test on the Linux side writes a JSON payload, runs this plain script on it through
``winehost.WinePrefix.python`` and checks the JSON it writes back. Usage:
``python.exe -B windows_side.py PAYLOAD.json``; the payload's ``task`` picks the function and its
``result`` names the file to write. Only the standard library and loadbench are imported.
"""

import sys

# Before anything imports platform: with _wmi importable, platform's OS queries abort the whole
# process under Wine 8.0 (an unimplemented propsys export); without it they use the registry.
sys.modules["_wmi"] = None  # type: ignore[assignment]

import ctypes  # noqa: E402
import json  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402
from ctypes import c_int32, c_uint32, c_void_p, c_wchar  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout under test

from loadbench.probes.base import Schedule, StopFlag, Target  # noqa: E402


class PROCESSENTRY32W(ctypes.Structure):
    _fields_ = [("dwSize", c_uint32), ("cntUsage", c_uint32), ("th32ProcessID", c_uint32),
                ("th32DefaultHeapID", ctypes.c_size_t), ("th32ModuleID", c_uint32),
                ("cntThreads", c_uint32), ("th32ParentProcessID", c_uint32),
                ("pcPriClassBase", c_int32), ("dwFlags", c_uint32),
                ("szExeFile", c_wchar * 260)]


def processes() -> list[str]:
    """Image names of every process in this Wine prefix (a toolhelp snapshot)."""
    k32 = ctypes.WinDLL("kernel32", use_last_error=True)
    k32.CreateToolhelp32Snapshot.restype = c_void_p
    k32.CreateToolhelp32Snapshot.argtypes = [c_uint32, c_uint32]
    k32.Process32FirstW.argtypes = k32.Process32NextW.argtypes = [c_void_p, c_void_p]
    k32.CloseHandle.argtypes = [c_void_p]
    snap = k32.CreateToolhelp32Snapshot(0x2, 0)  # TH32CS_SNAPPROCESS
    if not snap or snap == c_void_p(-1).value:
        raise OSError(ctypes.get_last_error(), "CreateToolhelp32Snapshot failed")
    names = []
    try:
        entry = PROCESSENTRY32W()
        entry.dwSize = ctypes.sizeof(entry)
        ok = k32.Process32FirstW(snap, ctypes.byref(entry))
        while ok:
            names.append(entry.szExeFile)
            ok = k32.Process32NextW(snap, ctypes.byref(entry))
    finally:
        k32.CloseHandle(snap)
    return names


def _schedule(p: dict) -> Schedule:
    return Schedule(targets=tuple(Target(n, path, tuple(args)) for n, path, args in p["targets"]),
                    order=tuple(p["order"]), env=p["env"], timeout_s=p.get("timeout_s", 10.0),
                    first_index=p.get("first_index", 0),
                    show_output=p.get("show_output", False))


def task_launch(p: dict) -> dict:
    """The windows-job probe on a schedule, through its public interface; ``stop_after_s``
    requests a stop from another thread while the launches run. Afterwards: which of the
    watched images are still running."""
    from loadbench.probes.windows_job import WindowsJobProbe

    stop = StopFlag()
    timer = None
    if p.get("stop_after_s") is not None:
        timer = threading.Timer(p["stop_after_s"], stop.request, args=("test",))
        timer.start()
    with WindowsJobProbe(stop=stop) as probe:
        samples = [s.to_json() for s in probe.run(_schedule(p))]
        info = probe.describe().to_json()
    if timer is not None:
        timer.cancel()
    watch = {w.lower() for w in p.get("watch", ())}
    return {"samples": samples, "probe": info,
            "left_running": [n for n in processes() if n.lower() in watch]}


def task_argv(p: dict) -> dict:
    """Each argument list through build_command_line and back through the real
    CommandLineToArgvW (shell32)."""
    from loadbench.probes import windows_job as wj

    shell32 = ctypes.WinDLL("shell32")
    shell32.CommandLineToArgvW.restype = ctypes.POINTER(ctypes.c_wchar_p)
    shell32.CommandLineToArgvW.argtypes = [ctypes.c_wchar_p, ctypes.POINTER(c_int32)]
    kernel32 = ctypes.WinDLL("kernel32")
    kernel32.LocalFree.argtypes = [c_void_p]
    out = []
    for args in p["argv"]:
        line = wj.build_command_line(p["program"], args)
        n = c_int32()
        argv = shell32.CommandLineToArgvW(line, ctypes.byref(n))
        out.append([argv[i] for i in range(n.value)])
        kernel32.LocalFree(ctypes.cast(argv, c_void_p))
    return {"argv": out}


def task_process_times(p: dict) -> dict:
    """GetProcessTimes' kernel and user times of an exited child, beside the caller's own read
    just before and after: why the windows-job probe does not fall back on them under Wine."""
    import subprocess

    from loadbench.probes import windows_job as wj

    k32 = ctypes.WinDLL("kernel32", use_last_error=True)
    k32.GetProcessTimes.argtypes = [c_void_p, c_void_p, c_void_p, c_void_p, c_void_p]
    k32.GetCurrentProcess.restype = c_void_p

    def cpu_100ns(handle: int) -> int:
        t = [wj.FILETIME() for _ in range(4)]
        if not k32.GetProcessTimes(handle, *(ctypes.byref(x) for x in t)):
            raise OSError(ctypes.get_last_error(), "GetProcessTimes failed")
        return t[2].value + t[3].value  # kernel + user

    sum(i * i for i in range(2_000_000))  # give the caller CPU time of its own
    child = subprocess.Popen([p["program"]], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    child.wait()
    before = cpu_100ns(k32.GetCurrentProcess())
    theirs = cpu_100ns(int(child._handle))  # type: ignore[attr-defined]
    after = cpu_100ns(k32.GetCurrentProcess())
    return {"caller_before_100ns": before, "child_100ns": theirs, "caller_after_100ns": after}


def task_host(p: dict) -> dict:
    """What loadbench knows about this host and what the Windows probes say about it."""
    import dataclasses

    from loadbench import host
    from loadbench.probes import windows_etw
    from loadbench.probes.windows_job import WindowsJobProbe

    w = host.wine()
    etw = windows_etw.WindowsEtwProbe
    return {
        "wine": None if w is None else dataclasses.asdict(w),
        "facts": host.facts(),
        "jiffies": host.cpu_jiffies(),
        "job_available": list(dataclasses.astuple(WindowsJobProbe.availability())),
        "job_probe": WindowsJobProbe().describe().to_json(),
        "etw_available": list(dataclasses.astuple(etw.availability())),
        "etw_probe": etw().describe().to_json(),
        "is_admin": windows_etw._is_admin(),
    }


def task_etw(p: dict) -> dict:
    """The windows-etw probe's parts that need no wpr: it refuses to run here and says why, its
    launches (windows-job's) stop on request, and merge_etw keeps the job figures of launches
    the trace does not have."""
    from loadbench.probes.base import ProbeUnavailable
    from loadbench.probes.windows_etw import WindowsEtwProbe, merge_etw
    from loadbench.probes.windows_job import launch_schedule

    probe = WindowsEtwProbe()
    try:
        list(probe.run(_schedule(p)))
        refused = None
    except ProbeUnavailable as e:
        refused = str(e)
    probe.close()
    probe.close()
    samples = list(launch_schedule(_schedule(p)))
    merged = merge_etw(samples, ())
    return {"refused": refused, "samples": [s.to_json() for s in samples],
            "merged": [s.to_json() for s in merged]}


def task_record(p: dict) -> dict:
    """A whole ``loadbench run`` with the windows-job probe: the real runner, record and all."""
    from loadbench import runner

    targets = [runner.TargetSpec(n, path, tuple(args)) for n, path, args in p["targets"]]
    options = runner.RunOptions(probe="windows-job", runs=p["runs"], warmup=p["warmup"],
                                seed=p["seed"], env=p["env"], null_binary=p["null_binary"],
                                calibrate_launches=p["calibrate_launches"],
                                timeout_s=p.get("timeout_s", 10.0))
    rec = runner.run(targets, p["out"], options, argv=("windows_side.py", "record"))
    return {"record": str(Path(p["out"]) / "record.json"), "end_reason": rec.end_reason}


def task_launchers(p: dict) -> dict:
    """The same launches by the windows-job probe's ctypes loop and by a native launcher that
    speaks launcher.c's LB1 protocol, in alternating blocks so that drift hits both alike. Per
    launcher and target: every wall time, and the raw results of the native one."""
    import subprocess
    import tempfile

    from loadbench import launch_native
    from loadbench.probes.windows_job import launch_schedule

    targets = [(n, path) for n, path in p["targets"]]
    env, block, rounds = p["env"], p["block"], p["rounds"]
    ballast = p.get("ballast_mib")
    kinds = ("ctypes", "native", *(("native+ballast",) if ballast else ()))
    walls: dict[str, dict[str, list[int]]] = {k: {} for k in kinds}
    statuses: dict[str, list[str]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory(prefix="loadbench-launchers-") as tmp:
        sched, results = Path(tmp) / "schedule.bin", Path(tmp) / "results.tsv"
        for r in range(rounds):
            for which in (kinds if r % 2 == 0 else kinds[::-1]):
                for name, path in targets:
                    s = Schedule(targets=(Target(name, path),), order=(0,) * block, env=env)
                    if which == "ctypes":
                        got = [(x.wall_ns, str(x.status)) for x in launch_schedule(s)]
                    else:
                        sched.write_bytes(launch_native.encode_schedule(s))
                        extra = [str(ballast)] if which == "native+ballast" else []
                        subprocess.run([p["native"], str(sched), str(results), *extra],
                                       check=True, stdin=subprocess.DEVNULL)
                        raws = [launch_native.parse_line(line) for line in
                                results.read_text(encoding="utf-8").splitlines()]
                        got = [(raw[2], ("ok", "exit-nonzero", "signaled", "timeout",
                                         "spawn-failed")[raw[1]]) for raw in raws]
                    walls[which].setdefault(name, []).extend(w for w, _ in got)
                    statuses[which].extend(st for _, st in got)
    # What the ctypes loop adds inside the timed span besides the OS's work: four ctypes calls
    # (AssignProcessToJobObject, ResumeThread, WaitForSingleObject, QueryPerformanceCounter) and
    # a few Python statements. One ctypes call's cost, on QueryPerformanceCounter:
    from loadbench.probes import windows_job as wj

    k = wj._kernel32()
    n = 20_000
    t0 = wj._qpc(k)
    for _ in range(n):
        wj._qpc(k)
    per_call_ns = (wj._qpc(k) - t0) * 1_000_000_000 // (k.qpc_frequency * n)
    return {"walls": walls, "statuses": statuses, "ctypes_call_ns": per_call_ns}


def main(argv: list[str]) -> int:
    payload = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    out = Path(payload["result"])
    try:
        result = {"ok": True, **globals()[f"task_{payload['task']}"](payload)}
    except BaseException as e:  # the Linux side reports it; nothing else would see it
        result = {"ok": False, "error": f"{type(e).__name__}: {e}",
                  "traceback": traceback.format_exc()}
    out.write_text(json.dumps(result), encoding="utf-8")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
