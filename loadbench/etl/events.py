"""Names and payload decoding for the few ETW events loadbench reads from a trace.

Classic kernel events are named by their group (the hook id's high byte) and opcode, using the MOF
class and event type names from Microsoft's documentation (Process_TypeGroup1, Thread_TypeGroup1,
Image_Load, PageFault_TypeGroup1, PageFault_HardFault); manifest events by provider GUID and event
id. ``decode`` turns one ``RawEvent`` into a small frozen record (process, thread, image, page
fault, hard fault, Kernel-Process start/stop) or None for events it does not decode. Payload
layouts depend on the event version and on the pointer size of the logging process (32-bit
headers carry 4-byte pointers); a payload too short for its layout raises ``PayloadError``, which
the caller counts instead of failing the whole trace.
"""

from __future__ import annotations

import enum
import struct
import uuid
from dataclasses import dataclass

from loadbench.etl.errors import EtlError
from loadbench.etl.reader import HeaderKind, RawEvent, TraceHeader

KERNEL_PROCESS_GUID = uuid.UUID("22fb2cd6-0e7b-422b-a0c7-2fad1fd0e716")
KERNEL_PROCESS = "Microsoft-Windows-Kernel-Process"

GROUP_EVENT_TRACE = 0x00
GROUP_PAGE_FAULT = 0x02
GROUP_PROCESS = 0x03
GROUP_THREAD = 0x05
GROUP_IMAGE = 0x14

# Kernel groups (EVENT_TRACE_GROUP_*) -> MOF class name; events of the named groups we do not
# decode are still counted under these names.
GROUP_NAMES: dict[int, str] = {
    0x00: "EventTrace", 0x01: "DiskIo", 0x02: "PageFault", 0x03: "Process", 0x04: "FileIo",
    0x05: "Thread", 0x06: "TcpIp", 0x07: "Job", 0x08: "UdpIp", 0x09: "Registry",
    0x0B: "SystemConfig", 0x0F: "PerfInfo", 0x10: "Heap", 0x11: "Object", 0x12: "Power",
    0x14: "Image", 0x15: "Dpc",
}
# Provider GUIDs of the classic classes this module decodes (for reports; the events themselves
# carry only the group byte).
CLASS_GUIDS: dict[str, uuid.UUID] = {
    "EventTrace": uuid.UUID("68fdd900-4a3e-11d1-84f4-0000f80464e3"),
    "Process": uuid.UUID("3d6fa8d0-fe05-11d0-9dda-00c04fd7ba7c"),
    "Thread": uuid.UUID("3d6fa8d1-fe05-11d0-9dda-00c04fd7ba7c"),
    "PageFault": uuid.UUID("3d6fa8d3-fe05-11d0-9dda-00c04fd7ba7c"),
    "Image": uuid.UUID("2cb15d1d-5fc1-11d2-abe1-00a0c911f518"),
    KERNEL_PROCESS: KERNEL_PROCESS_GUID,
}

_OPCODES: dict[int, dict[int, str]] = {
    GROUP_EVENT_TRACE: {0: "Header", 5: "Extension", 8: "RundownComplete", 32: "EndExtension"},
    GROUP_PROCESS: {1: "Start", 2: "End", 3: "DCStart", 4: "DCEnd", 11: "Terminate",
                    32: "PerfCtr", 33: "PerfCtrRundown", 39: "Defunct"},
    GROUP_THREAD: {1: "Start", 2: "End", 3: "DCStart", 4: "DCEnd"},
    GROUP_IMAGE: {10: "Load", 2: "UnLoad", 3: "DCStart", 4: "DCEnd"},
    GROUP_PAGE_FAULT: {10: "TransitionFault", 11: "DemandZeroFault", 12: "CopyOnWrite",
                       13: "GuardPageFault", 14: "HardPageFault", 15: "AccessViolation",
                       32: "HardFault"},
}
_KERNEL_PROCESS_IDS = {1: "ProcessStart", 2: "ProcessStop", 3: "ThreadStart", 4: "ThreadStop",
                       5: "ImageLoad", 6: "ImageUnload"}

# Name of every (group, opcode) pair decoded or named above, built once: the hot path is a lookup.
_CLASSIC_NAMES: dict[tuple[int, int], str] = {
    (group, op): f"{GROUP_NAMES[group]}/{name}"
    for group, ops in _OPCODES.items() for op, name in ops.items()
}
# The kernel logs image loads with the *process* group's hook id (0x030A, "process load image");
# consumers map it to the Image class, event type 10. Unload and rundown use the Image group.
_CLASSIC_NAMES[(GROUP_PROCESS, 10)] = "Image/Load"


class FaultKind(enum.StrEnum):
    """Page fault kinds: PageFault_TypeGroup1 opcodes 10-15 and PageFault_HardFault (32).

    HardPageFault (AllFaults keyword, logged at the fault) and HardFault (HardFaults keyword, logged
    when the read completes) describe the same faults from two sides when both are enabled.
    """

    TRANSITION = "TransitionFault"
    DEMAND_ZERO = "DemandZeroFault"
    COPY_ON_WRITE = "CopyOnWrite"
    GUARD_PAGE = "GuardPageFault"
    HARD_PAGE = "HardPageFault"
    ACCESS_VIOLATION = "AccessViolation"
    HARD_FAULT = "HardFault"


_FAULT_KINDS = {10: FaultKind.TRANSITION, 11: FaultKind.DEMAND_ZERO, 12: FaultKind.COPY_ON_WRITE,
                13: FaultKind.GUARD_PAGE, 14: FaultKind.HARD_PAGE, 15: FaultKind.ACCESS_VIOLATION}


class PayloadError(EtlError):
    """One event's payload is shorter than its documented layout."""


def event_name(event: RawEvent) -> tuple[str, bool]:
    """``("Process/Start", True)`` for events this module knows by name; for others a stable key
    built from the provider (kernel group or GUID) and the opcode or event id, and False."""
    if event.group >= 0:
        name = _CLASSIC_NAMES.get((event.group, event.opcode))
        if name is not None:
            return name, True
        group = GROUP_NAMES.get(event.group, f"KernelGroup{event.group:#04x}")
        return f"{group}/opcode{event.opcode}", False
    if event.kind is HeaderKind.EVENT:
        if event.guid == KERNEL_PROCESS_GUID:
            known = _KERNEL_PROCESS_IDS.get(event.event_id)
            if known is not None:
                return f"{KERNEL_PROCESS}/{known}", True
            return f"{KERNEL_PROCESS}/id{event.event_id}", False
        return f"{{{event.guid}}}/id{event.event_id}", False
    if event.kind is HeaderKind.FULL:
        return f"{{{event.guid}}}/opcode{event.opcode}", False
    if event.kind is HeaderKind.INSTANCE:
        return f"instance/opcode{event.opcode}", False
    if event.kind is HeaderKind.MESSAGE:
        return "TraceMessage", False
    return "other", False


@dataclass(frozen=True, slots=True)
class ProcessEvent:
    """Process/Start, End, DCStart, DCEnd or Defunct. ``pid`` is the payload's ProcessId: Start is
    often logged in the parent's context, so the header's process id is not the new process."""

    name: str
    time_ns: int
    pid: int
    parent_pid: int
    session_id: int
    exit_status: int
    image_file_name: str
    command_line: str
    unique_process_key: int


@dataclass(frozen=True, slots=True)
class ThreadEvent:
    name: str
    time_ns: int
    pid: int
    tid: int


@dataclass(frozen=True, slots=True)
class ImageEvent:
    """Image/Load, UnLoad, DCStart or DCEnd: the mapping [image_base, image_base + image_size)."""

    name: str
    time_ns: int
    pid: int
    tid: int | None
    image_base: int
    image_size: int
    file_name: str


@dataclass(frozen=True, slots=True)
class PageFaultEvent:
    """PageFault_TypeGroup1: logged in the faulting thread's context (header pid/tid)."""

    kind: FaultKind
    time_ns: int
    pid: int | None
    tid: int | None
    virtual_address: int
    program_counter: int


@dataclass(frozen=True, slots=True)
class HardFaultEvent:
    """PageFault_HardFault: logged when the read completes, so the faulting thread is the payload's
    ``thread_id`` (TThreadId), not the header's."""

    time_ns: int
    initial_time_ns: int  # when the fault started, since trace start
    read_offset: int
    virtual_address: int
    file_object: int
    thread_id: int
    byte_count: int

    @property
    def elapsed_ns(self) -> int:
        return self.time_ns - self.initial_time_ns


@dataclass(frozen=True, slots=True)
class KernelProcessStart:
    """Microsoft-Windows-Kernel-Process ProcessStart (event 1)."""

    time_ns: int
    pid: int
    create_time_100ns: int  # FILETIME: the same value GetProcessTimes returns as creation time
    parent_pid: int
    session_id: int
    image_name: str


@dataclass(frozen=True, slots=True)
class KernelProcessStop:
    """Microsoft-Windows-Kernel-Process ProcessStop (event 2). ``hard_fault_count`` and the
    counters after it exist from version 1 on (None in version 0)."""

    time_ns: int
    pid: int
    create_time_100ns: int
    exit_time_100ns: int
    exit_code: int
    commit_peak_bytes: int
    hard_fault_count: int | None
    cpu_cycles: int | None
    image_name: str


Decoded = (ProcessEvent | ThreadEvent | ImageEvent | PageFaultEvent | HardFaultEvent
           | KernelProcessStart | KernelProcessStop)

_PROCESS_DECODED = frozenset({1, 2, 3, 4, 39})


def decode(event: RawEvent, header: TraceHeader) -> Decoded | None:
    """Decode the payload of the events loadbench uses; None for every other event."""
    group = event.group
    try:
        if group == GROUP_PAGE_FAULT:
            if event.opcode == 32:
                return _hard_fault(event, header)
            kind = _FAULT_KINDS.get(event.opcode)
            if kind is not None:
                return _page_fault(event, header, kind)
        elif group == GROUP_IMAGE:
            if event.opcode in (10, 2, 3, 4):
                return _image(event, header)
        elif group == GROUP_THREAD:
            if 1 <= event.opcode <= 4:
                return _thread(event, header)
        elif group == GROUP_PROCESS:
            if event.opcode in _PROCESS_DECODED:
                return _process(event, header)
            if event.opcode == 10:
                return _image(event, header)
        elif group < 0 and event.guid == KERNEL_PROCESS_GUID and event.kind is HeaderKind.EVENT:
            if event.event_id == 1:
                return _kp_start(event, header)
            if event.event_id == 2:
                return _kp_stop(event, header)
    except (struct.error, IndexError):
        name = event_name(event)[0]
        raise PayloadError(f"{name} v{event.version}: payload of {len(event.payload)} bytes is "
                           f"too short") from None
    return None


def _ptr(payload: bytes, off: int, size: int) -> int:
    if off + size > len(payload):
        raise IndexError(off)
    return int.from_bytes(payload[off:off + size], "little")


def _u32(payload: bytes, off: int) -> int:
    return struct.unpack_from("<I", payload, off)[0]  # type: ignore[no-any-return]


def _wstr(payload: bytes, off: int) -> tuple[str, int]:
    """A NUL-terminated UTF-16LE string at ``off`` and the offset after its terminator. A string
    cut by the payload's end is returned as far as it goes (PerfView does the same)."""
    if off > len(payload):
        raise IndexError(off)
    end = off
    while True:
        end = payload.find(b"\x00\x00", end)
        if end < 0:
            end = len(payload) - ((len(payload) - off) & 1)
            return payload[off:end].decode("utf-16-le", errors="replace"), len(payload)
        if (end - off) & 1 == 0:
            return payload[off:end].decode("utf-16-le", errors="replace"), end + 2
        end += 1


def _astr(payload: bytes, off: int) -> tuple[str, int]:
    if off > len(payload):
        raise IndexError(off)
    end = payload.find(b"\x00", off)
    if end < 0:
        return payload[off:].decode("utf-8", errors="replace"), len(payload)
    return payload[off:end].decode("utf-8", errors="replace"), end + 1


def _skip_sid(payload: bytes, off: int, ptr: int) -> int:
    """Skip the UserSID of classic kernel process events: a TOKEN_USER (a SID pointer and its
    attributes, two pointer-sized slots) followed by the SID itself (8 bytes plus 4 per
    sub-authority, whose count is the SID's second byte). A zero first word means "no SID" and
    takes 4 bytes."""
    if _u32(payload, off) == 0:
        return off + 4
    sid = off + 2 * ptr
    count = payload[sid + 1]
    end = sid + 8 + 4 * count
    if end > len(payload):
        raise IndexError(end)
    return end


def _process(event: RawEvent, header: TraceHeader) -> ProcessEvent:
    p = event.payload
    ptr = event.pointer_size
    version = event.version
    key = 0
    cmd = ""
    if version == 0:
        pid, ppid = struct.unpack_from("<II", p, 0)
        session, status = 0, 0
        image, _ = _astr(p, _skip_sid(p, 8, ptr))
    else:
        key = _ptr(p, 0, ptr)
        pid, ppid, session, status = struct.unpack_from("<IIIi", p, ptr)
        off = ptr + 16
        if version >= 3:
            off += ptr  # DirectoryTableBase
        if version >= 4:
            off += 4  # Flags
        image, off = _astr(p, _skip_sid(p, off, ptr))
        if version >= 2:
            cmd, off = _wstr(p, off)
    return ProcessEvent(name=_CLASSIC_NAMES[(GROUP_PROCESS, event.opcode)],
                        time_ns=header.rel_ns(event.timestamp), pid=pid, parent_pid=ppid,
                        session_id=session, exit_status=status, image_file_name=image,
                        command_line=cmd, unique_process_key=key)


def _thread(event: RawEvent, header: TraceHeader) -> ThreadEvent:
    first, second = struct.unpack_from("<II", event.payload, 0)
    # Version 0 (Windows 2000) put the thread id first; later versions lead with the process id.
    pid, tid = (second, first) if event.version == 0 else (first, second)
    return ThreadEvent(name=_CLASSIC_NAMES[(GROUP_THREAD, event.opcode)],
                       time_ns=header.rel_ns(event.timestamp), pid=pid, tid=tid)


def _image(event: RawEvent, header: TraceHeader) -> ImageEvent:
    p = event.payload
    ptr = event.pointer_size
    base = _ptr(p, 0, ptr)
    if event.version == 0:
        size = _u32(p, ptr)
        pid = event.pid if event.pid is not None else 0
        name, _ = _wstr(p, ptr + 4)
    else:
        size = _ptr(p, ptr, ptr)
        pid = _u32(p, 2 * ptr)
        # v2+: checksum, time stamp, reserved word, DefaultBase pointer and four reserved words sit
        # between the process id and the file name.
        name_at = 2 * ptr + 4 if event.version == 1 else 2 * ptr + 16 + ptr + 16
        name, _ = _wstr(p, name_at)
    return ImageEvent(name=_CLASSIC_NAMES[(event.group, event.opcode)],
                      time_ns=header.rel_ns(event.timestamp), pid=pid, tid=event.tid,
                      image_base=base, image_size=size, file_name=name)


def _page_fault(event: RawEvent, header: TraceHeader, kind: FaultKind) -> PageFaultEvent:
    ptr = event.pointer_size
    return PageFaultEvent(kind=kind, time_ns=header.rel_ns(event.timestamp), pid=event.pid,
                          tid=event.tid, virtual_address=_ptr(event.payload, 0, ptr),
                          program_counter=_ptr(event.payload, ptr, ptr))


def _hard_fault(event: RawEvent, header: TraceHeader) -> HardFaultEvent:
    p = event.payload
    ptr = event.pointer_size
    initial, read_offset = struct.unpack_from("<qQ", p, 0)
    va = _ptr(p, 16, ptr)
    file_object = _ptr(p, 16 + ptr, ptr)
    tid, count = struct.unpack_from("<II", p, 16 + 2 * ptr)
    return HardFaultEvent(time_ns=header.rel_ns(event.timestamp),
                          initial_time_ns=header.rel_ns(initial), read_offset=read_offset,
                          virtual_address=va, file_object=file_object, thread_id=tid,
                          byte_count=count)


def _kp_start(event: RawEvent, header: TraceHeader) -> KernelProcessStart:
    p = event.payload
    if event.version >= 3:
        # v3 adds process sequence numbers, elevation fields and a mandatory-label SID.
        pid, _seq, create, ppid, _pseq, session = struct.unpack_from("<IQQIQI", p, 0)
        off = 4 + 8 + 8 + 4 + 8 + 4 + 4 + 4 + 4  # ... Flags, elevation type, is-elevated
        count = p[off + 1]
        image, _ = _wstr(p, off + 8 + 4 * count)
    else:
        pid, create, ppid, session = struct.unpack_from("<IQII", p, 0)
        image, _ = _wstr(p, 20 if event.version == 0 else 24)
    return KernelProcessStart(time_ns=header.rel_ns(event.timestamp), pid=pid,
                              create_time_100ns=create, parent_pid=ppid, session_id=session,
                              image_name=image)


def _kp_stop(event: RawEvent, header: TraceHeader) -> KernelProcessStop:
    p = event.payload
    pid = _u32(p, 0)
    off = 12 if event.version >= 2 else 4  # v2 inserts ProcessSequenceNumber after ProcessID
    create, exit_time, exit_code, _elevation, _handles, _commit, peak = struct.unpack_from(
        "<QQIIIQQ", p, off)
    off += 44
    hard = cycles = None
    if event.version >= 1:
        cycles, _r, _w, _rkb, _wkb, hard = struct.unpack_from("<QIIIII", p, off)
        off += 28
    image, _ = _astr(p, off)
    return KernelProcessStop(time_ns=header.rel_ns(event.timestamp), pid=pid,
                             create_time_100ns=create, exit_time_100ns=exit_time,
                             exit_code=exit_code, commit_peak_bytes=peak, hard_fault_count=hard,
                             cpu_cycles=cycles, image_name=image)
