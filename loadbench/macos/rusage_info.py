"""``struct rusage_info_v4`` (xnu ``bsd/sys/resource.h``) decoded from bytes, and mach time.

``proc_pid_rusage(pid, RUSAGE_INFO_V4, &info)`` fills 296 bytes: a 16-byte UUID then 35
``uint64_t`` fields, in the order of ``RUSAGE_INFO_V4_FIELDS``. The probe reads them from the
kernel with ctypes; decoding and the mach-absolute-time conversion are pure functions here so
they are tested on any OS. Every Mac that runs macOS is little-endian (x86_64 and arm64).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from loadbench.macos import ParseError

RUSAGE_INFO_V4 = 4  # the flavor argument of proc_pid_rusage

# In struct order after ri_uuid[16]. v0 ends at ri_proc_exit_abstime (96 bytes), v1 at
# ri_child_elapsed_abstime (144), v2 at ri_diskio_byteswritten (160), v3 at
# ri_serviced_system_time (232), v4 at ri_runnable_time (296).
RUSAGE_INFO_V4_FIELDS: tuple[str, ...] = (
    "ri_user_time",
    "ri_system_time",
    "ri_pkg_idle_wkups",
    "ri_interrupt_wkups",
    "ri_pageins",
    "ri_wired_size",
    "ri_resident_size",
    "ri_phys_footprint",
    "ri_proc_start_abstime",
    "ri_proc_exit_abstime",
    "ri_child_user_time",
    "ri_child_system_time",
    "ri_child_pkg_idle_wkups",
    "ri_child_interrupt_wkups",
    "ri_child_pageins",
    "ri_child_elapsed_abstime",
    "ri_diskio_bytesread",
    "ri_diskio_byteswritten",
    "ri_cpu_time_qos_default",
    "ri_cpu_time_qos_maintenance",
    "ri_cpu_time_qos_background",
    "ri_cpu_time_qos_utility",
    "ri_cpu_time_qos_legacy",
    "ri_cpu_time_qos_user_initiated",
    "ri_cpu_time_qos_user_interactive",
    "ri_billed_system_time",
    "ri_serviced_system_time",
    "ri_logical_writes",
    "ri_lifetime_max_phys_footprint",
    "ri_instructions",
    "ri_cycles",
    "ri_billed_energy",
    "ri_serviced_energy",
    "ri_interval_max_phys_footprint",
    "ri_runnable_time",
)
RUSAGE_INFO_V4_FORMAT = "<16s" + "Q" * len(RUSAGE_INFO_V4_FIELDS)
RUSAGE_INFO_V4_SIZE = struct.calcsize(RUSAGE_INFO_V4_FORMAT)  # 296


def field_offset(name: str) -> int:
    """Byte offset of ``name`` in the C struct (``ri_uuid`` is 0)."""
    if name == "ri_uuid":
        return 0
    return 16 + 8 * RUSAGE_INFO_V4_FIELDS.index(name)


@dataclass(frozen=True, slots=True)
class RusageInfoV4:
    """The fields of ``rusage_info_v4`` as the kernel filled them (names as in xnu).

    Times named ``*_abstime`` are mach absolute time ticks; ``abstime_to_ns`` converts them.
    """

    ri_uuid: bytes
    ri_user_time: int
    ri_system_time: int
    ri_pkg_idle_wkups: int
    ri_interrupt_wkups: int
    ri_pageins: int
    ri_wired_size: int
    ri_resident_size: int
    ri_phys_footprint: int
    ri_proc_start_abstime: int
    ri_proc_exit_abstime: int
    ri_child_user_time: int
    ri_child_system_time: int
    ri_child_pkg_idle_wkups: int
    ri_child_interrupt_wkups: int
    ri_child_pageins: int
    ri_child_elapsed_abstime: int
    ri_diskio_bytesread: int
    ri_diskio_byteswritten: int
    ri_cpu_time_qos_default: int
    ri_cpu_time_qos_maintenance: int
    ri_cpu_time_qos_background: int
    ri_cpu_time_qos_utility: int
    ri_cpu_time_qos_legacy: int
    ri_cpu_time_qos_user_initiated: int
    ri_cpu_time_qos_user_interactive: int
    ri_billed_system_time: int
    ri_serviced_system_time: int
    ri_logical_writes: int
    ri_lifetime_max_phys_footprint: int
    ri_instructions: int
    ri_cycles: int
    ri_billed_energy: int
    ri_serviced_energy: int
    ri_interval_max_phys_footprint: int
    ri_runnable_time: int


def decode_rusage_info_v4(data: bytes | bytearray | memoryview) -> RusageInfoV4:
    """Decode the 296 bytes ``proc_pid_rusage(RUSAGE_INFO_V4)`` wrote."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ParseError(f"rusage_info_v4 must be bytes, not {type(data).__name__}")
    if len(data) != RUSAGE_INFO_V4_SIZE:
        raise ParseError(f"rusage_info_v4 is {RUSAGE_INFO_V4_SIZE} bytes, got {len(data)}")
    uuid, *values = struct.unpack(RUSAGE_INFO_V4_FORMAT, bytes(data))
    return RusageInfoV4(uuid, *values)


def encode_rusage_info_v4(info: RusageInfoV4) -> bytes:
    """The inverse of ``decode_rusage_info_v4`` (for tests and synthetic inputs)."""
    return struct.pack(RUSAGE_INFO_V4_FORMAT, info.ri_uuid,
                       *(getattr(info, f) for f in RUSAGE_INFO_V4_FIELDS))


def abstime_to_ns(ticks: int, numer: int, denom: int) -> int:
    """Mach absolute time ticks to nanoseconds with ``mach_timebase_info`` ``numer/denom``.

    1/1 on Intel Macs, 125/3 on Apple silicon (24 MHz ticks). Integer arithmetic: exact for
    any tick count, where a float ratio would lose nanoseconds after a few weeks of uptime.
    """
    if numer <= 0 or denom <= 0:
        raise ParseError(f"invalid mach timebase {numer}/{denom}")
    if ticks < 0:
        raise ParseError(f"negative mach absolute time {ticks}")
    return ticks * numer // denom
