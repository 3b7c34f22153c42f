"""A deterministic probe for tests of the runner, storage, statistics and reports.

Hidden from users. It launches nothing: each sample is drawn from a seeded generator whose
centre depends on the target's file size, so bigger binaries are "slower" in a repeatable way.
Settings: ``seed``, ``fail`` (target name -> status to return for every launch), ``shift``
(target name -> multiplicative factor on latency), ``noise`` (relative SD, default 0.05).
"""

from __future__ import annotations

import os
import random
import zlib
from collections.abc import Iterator, Mapping
from typing import ClassVar

from loadbench.model import LaunchStatus, Sample
from loadbench.probes.base import COLD_CACHE, Availability, Probe, Schedule


class FakeProbe(Probe):
    name = "fake"
    version = "1"
    platforms: ClassVar[tuple[str, ...]] = ("",)
    capabilities: ClassVar[frozenset[str]] = frozenset({COLD_CACHE})
    options: ClassVar[Mapping[str, str]] = {
               "seed": "seed of the generated samples", "noise": "relative SD",
               "fail": "target name -> status of every launch",
               "shift": "target name -> factor on latency"}
    hidden = True

    @classmethod
    def availability(cls) -> Availability:
        return Availability(True)

    def run(self, schedule: Schedule) -> Iterator[Sample]:
        seed = int(self.settings.get("seed", 0))
        noise = float(self.settings.get("noise", 0.05))
        fail = self.settings.get("fail") or {}
        shift = self.settings.get("shift") or {}
        for i, t in enumerate(schedule.order):
            target = schedule.targets[t]
            index = schedule.first_index + i
            rng = random.Random(seed * 1_000_003 + index * 7919 + zlib.crc32(target.name.encode()))
            try:
                size = os.path.getsize(target.path)
            except OSError:
                size = 0
            faults = 4 + size // 40_000
            base = (100_000 + 2_500 * faults) * float(shift.get(target.name, 1.0))
            wall = int(base * rng.lognormvariate(0.0, noise))
            status = LaunchStatus(fail.get(target.name, "ok"))
            yield Sample(
                index=index,
                status=status,
                wall_ns=wall,
                user_ns=wall // 3,
                sys_ns=wall // 2,
                faults_minor=faults + rng.randint(0, 2),
                faults_major=0,
                max_rss_bytes=1_000_000 + 4096 * faults,
                exit_code=0
                if status is LaunchStatus.OK
                else (1 if status is LaunchStatus.EXIT_NONZERO else None),
                signal=9 if status in (LaunchStatus.SIGNALED, LaunchStatus.TIMEOUT) else None,
                start_ns=index * 1_000_000,
            )
