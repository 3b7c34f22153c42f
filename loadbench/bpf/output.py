"""Parse what ``bpftrace -f json -k`` prints: one JSON object per line.

Lines look like ``{"type": "map", "data": {"@m": {"1,4": 9123}}}`` (a map; its keys are the
comma-joined key values, its values integers, strings or -- for tuples -- lists),
``{"type": "map", "data": {"@n": 5}}`` (a map without keys), ``{"type": "printf", "data":
"ready\\n"}``, ``{"type": "attached_probes", "data": {"probes": 9}}``, ``{"type":
"helper_error", "helper": "map_update_elem", "retcode": -7, ...}`` (``-k``: a map was full and an
update was lost) and ``{"type": "lost_events", "data": {"events": N}}``. Pure: tested on
captured output under ``tests/data/bpf/``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loadbench.bpf import ParseError

Key = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class BpfOutput:
    maps: Mapping[str, Mapping[Key, Any]] = field(default_factory=dict)
    printed: tuple[str, ...] = ()
    helper_errors: Mapping[str, int] = field(default_factory=dict)  # helper -> failures
    lost_events: int = 0
    attached_probes: int | None = None

    def map(self, name: str) -> Mapping[Key, Any]:
        return self.maps.get(name, {})


def _key(text: str, line: str) -> Key:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ParseError(f"bpftrace: map key {text!r} is not integers: {line[:160]}") from None


def parse_output(lines: Iterable[str]) -> BpfOutput:
    """Every map, printf text, helper error and lost-event count in the output."""
    maps: dict[str, dict[Key, Any]] = {}
    printed: list[str] = []
    errors: Counter[str] = Counter()
    lost = 0
    attached = None
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            raise ParseError(f"bpftrace: not a JSON line: {line[:160]}") from None
        if not isinstance(obj, dict) or "type" not in obj:
            raise ParseError(f"bpftrace: unexpected output: {line[:160]}")
        kind = obj["type"]
        data = obj.get("data")
        if kind == "map":
            if not isinstance(data, dict):
                raise ParseError(f"bpftrace: map without data: {line[:160]}")
            for name, value in data.items():
                if isinstance(value, dict):
                    maps.setdefault(name, {}).update(
                        (_key(k, line), v) for k, v in value.items()
                    )
                else:
                    maps.setdefault(name, {})[()] = value
        elif kind == "printf":
            printed.append(str(data))
        elif kind == "helper_error":
            errors[str(obj.get("helper", "?"))] += 1
        elif kind == "lost_events":
            lost += int((data or {}).get("events", 0))
        elif kind == "attached_probes":
            attached = int((data or {}).get("probes", 0))
        # other types (time, join, hist, ...) are not produced by loadbench's program
    return BpfOutput(maps, tuple(printed), dict(errors), lost, attached)
