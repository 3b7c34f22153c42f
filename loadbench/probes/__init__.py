"""The probe registry: names to classes, imported lazily so each stays importable everywhere.

``asset_path`` finds the platform assets (perf event lists, wpr profiles, D scripts) both in a
source checkout (top-level ``probes/``) and in an installed wheel (``loadbench/_assets``).
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loadbench.probes.base import Probe

# name -> "module:Class". Order is the order `loadbench doctor` lists them.
REGISTRY: dict[str, str] = {
    "rusage": "loadbench.probes.rusage:RusageProbe",
    "perf": "loadbench.probes.linux_perf:PerfProbe",
    "bpf": "loadbench.probes.linux_bpf:BpfProbe",
    "windows-job": "loadbench.probes.windows_job:WindowsJobProbe",
    "windows-etw": "loadbench.probes.windows_etw:WindowsEtwProbe",
    "macos-rusage": "loadbench.probes.macos_rusage:MacosRusageProbe",
    "macos-dtrace": "loadbench.probes.macos_dtrace:MacosDtraceProbe",
    "fake": "loadbench.probes.fake:FakeProbe",
}


class UnknownProbe(KeyError):
    pass


def probe_class(name: str) -> type[Probe]:
    try:
        target = REGISTRY[name]
    except KeyError:
        raise UnknownProbe(name) from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def available_names() -> list[str]:
    """Probe names a user may pass (hidden ones excluded), whether or not they can run here."""
    names = []
    for name in REGISTRY:
        try:
            if not probe_class(name).hidden:
                names.append(name)
        except ImportError:
            continue
    return names


def asset_path(relative: str) -> Path:
    """Path of ``probes/<relative>`` in a checkout or in the installed package."""
    here = Path(__file__).resolve().parent.parent  # loadbench/
    for root in (here / "_assets", here.parent / "probes"):
        p = root / relative
        if p.exists():
            return p
    raise FileNotFoundError(
        f"probe asset {relative!r} not found under {here / '_assets'} "
        f"or {here.parent / 'probes'}; reinstall loadbench"
    )


def asset_digests(assets: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for rel in assets:
        try:
            out[rel] = hashlib.sha256(asset_path(rel).read_bytes()).hexdigest()
        except FileNotFoundError:
            out[rel] = "missing"
    return out
