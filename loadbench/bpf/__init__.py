"""Launch tracing with bpftrace: counts aggregated in kernel maps, read once per batch.

The pieces are plain functions over text and dataclasses so they run (and are tested) without
bpftrace: ``regions`` turns binary layouts into region codes, the in-kernel classifier and the
Python one for faults the kernel could not place; ``program`` fills the bpftrace template
(``probes/linux/bpf-launch.bt``) for one session; ``output`` parses bpftrace's JSON output;
``fold`` turns the maps into one ``BpfLaunch`` per launch (phases, faults by kind, phase and
region). ``session`` is the only part that runs bpftrace (through ``loadbench._proc``).
"""

from __future__ import annotations

from loadbench.errors import ParseError

__all__ = ["ParseError"]
