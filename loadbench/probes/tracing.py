"""What the two Linux tracing probes (perf, bpf) share: their observer effect is measured the
same way (``loadbench.probes.inflation``: interleaved rounds of a traced block, the probe's own
``traced_block``, beside an untraced block of the rusage probe's launcher), on the null binary
at calibration and on each measured binary before its first batch; their settings' flags are
read the same way."""

from __future__ import annotations

import abc
import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from loadbench.probes import inflation
from loadbench.probes.base import Probe, Schedule, Target

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class TracingProbe(Probe):
    _calibrated = False

    @abc.abstractmethod
    def traced_block(self, target: Target, env: Mapping[str, str], *,
                     timeout_s: float = 10.0) -> Any:
        """A function launching ``target`` n times traced exactly as for a record."""

    def measure_inflation(
        self, target: Target, env: Mapping[str, str], launches: int | None = None, *,
        timeout_s: float = 10.0,
    ) -> inflation.Inflation:
        """Traced vs untraced launches of ``target`` in interleaved rounds (ABBA order, so a
        drift in the machine hits both alike). ``launches`` (optional) sizes the blocks."""
        return inflation.measure(self.traced_block(target, env, timeout_s=timeout_s),
                                 inflation.untraced_block(self.stop, target, env,
                                                          timeout_s=timeout_s),
                                 launches_per_block=inflation.block_for(launches),
                                 stopped=lambda: self.stop.requested)

    def calibrate(
        self, null_target: Target, env: Mapping[str, str], launches: int, *,
        timeout_s: float = 10.0,
    ) -> dict[str, Any]:
        """Inflation on the null binary (stored flat in ``overhead``, with its CI); each
        measured binary gets its own (``target:<name>``) on first use unless
        ``calibrate_targets`` is off."""
        m = self.measure_inflation(null_target, env, timeout_s=timeout_s)
        self.overhead.update(m.overhead())
        if m.traced_wall_ns_median is not None:
            self.overhead["null_wall_ns_median"] = m.traced_wall_ns_median
            self.overhead["null_launches"] = m.launches_each
        self._calibrated = True
        return dict(self.overhead)

    def calibrate_each_target(self, schedule: Schedule) -> None:
        """Each target's inflation, once, before the first batch that launches it; a stop ends
        it (the caller then launches nothing)."""
        if not (self._calibrated and self.settings["calibrate_targets"]):
            return
        for t in schedule.targets:
            key = f"target:{t.name}"
            if key not in self.overhead and not self.stop.requested:
                self.overhead[key] = self.measure_inflation(
                    t, schedule.env, timeout_s=schedule.timeout_s).overhead()


def with_real_paths(schedule: Schedule) -> Schedule:
    """``schedule`` with every target's path resolved: the kernel names (and the tracers match)
    the file it mapped, not a link to it."""
    return dataclasses.replace(schedule, targets=tuple(
        dataclasses.replace(t, path=os.path.realpath(t.path)) for t in schedule.targets))


def flag(value: Any, key: str) -> bool:
    """A boolean setting given as a bool or as 1/0, true/false, yes/no, on/off."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    raise ValueError(f"setting {key} must be true or false (got {value!r})")
