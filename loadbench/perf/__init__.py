"""Analysis of perf traces of launches: perf-script parsing, per-launch phases, fault attribution.

The pieces are plain functions over text and dataclasses so they run (and are tested) without
perf: ``script`` turns ``perf script`` text into events, ``layout`` describes a binary's segments
and sections, ``attribution`` folds events into one ``LaunchTrace`` per launch (phases, faults by
region, kind and phase), ``inittrace`` parses Go's ``GODEBUG=inittrace=1`` lines, ``chrome``
writes Chrome trace-event JSON. ``session`` and ``uprobes`` are the only parts that run perf
(through ``loadbench._proc``); ``loadbench.trace`` is the application behind ``loadbench trace``.
"""

from __future__ import annotations

from loadbench.errors import ParseError

__all__ = ["ParseError"]
