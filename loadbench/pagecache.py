"""The page-cache state of the binaries being measured: read it, and make it the same for all.

The kernel keeps a file in the page cache the way it was last brought in. Written by the Go
linker (many small writes), a binary sits in single 4 KiB pages; copied with ``cp`` (large
writes), it sits in large folios; read back after an eviction through the kernel's own paths
for mapped files (exec, page faults, ``POSIX_FADV_WILLNEED`` readahead) it sits in single pages
again. The same bytes start measurably faster from large folios (fault-around maps more per
fault), so two binaries written differently differ by more than their contents.

``normalise`` gives every binary one state: written back (``fdatasync``), evicted
(``POSIX_FADV_DONTNEED``, checked with ``mincore``: dirty pages and pages mapped by a running
process do not leave), then read back with ``POSIX_FADV_WILLNEED`` and touched through a
private read-only mapping until every page is resident, which is the path an exec after an
eviction takes. ``layout`` reads how a file sits in the cache: resident pages (``mincore``) and,
as root, how many of them are parts of large folios (``/proc/self/pagemap`` gives each page's
frame, ``/proc/kpageflags`` bits 15/16 say compound head/tail). Only pages already resident are
touched, so reading the layout never changes it. Linux only; elsewhere every function returns
None or does nothing, and the module imports everywhere.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

METHOD = "fdatasync + POSIX_FADV_DONTNEED, checked with mincore, then POSIX_FADV_WILLNEED " \
         "and a touch of every page through a read-only mapping (the kernel's read path for " \
         "mapped files: 4 KiB pages on this kind of kernel)"

_KPF_COMPOUND_HEAD = 1 << 15
_KPF_COMPOUND_TAIL = 1 << 16
_PM_PRESENT = 1 << 63
_PFN_MASK = (1 << 55) - 1


@dataclass(frozen=True, slots=True)
class Layout:
    """How one file sits in the page cache. ``large_pages`` is None when the frames cannot be
    read (not root, or no /proc/kpageflags)."""

    pages: int
    resident: int
    large_pages: int | None

    @property
    def large_share(self) -> float | None:
        if self.large_pages is None or not self.resident:
            return None
        return self.large_pages / self.resident

    def to_json(self) -> dict[str, Any]:
        share = self.large_share
        return {"pages": self.pages, "resident_pages": self.resident,
                "large_folio_pages": self.large_pages,
                "large_folio_share": None if share is None else round(share, 4)}


class _Libc:
    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_long]
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
        self.c = libc


_libc: _Libc | None = None


def _lib() -> _Libc | None:
    global _libc
    if not sys.platform.startswith("linux"):
        return None
    if _libc is None:
        _libc = _Libc()
    return _libc


PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_PROT_READ, _MAP_PRIVATE = 1, 2
_MAP_FAILED = ctypes.c_void_p(-1).value


@contextmanager
def _mapped(path: str) -> Iterator[tuple[int, int, int]]:
    """The file mapped read-only and private (nothing is read yet): (address, size, pages)."""
    lib = _lib()
    assert lib is not None
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            yield 0, 0, 0
            return
        addr = lib.c.mmap(None, size, _PROT_READ, _MAP_PRIVATE, fd, 0)
        if addr is None or addr == _MAP_FAILED:
            raise OSError(ctypes.get_errno(), f"cannot map {path}")
    finally:
        os.close(fd)
    try:
        yield addr, size, (size + PAGE - 1) // PAGE
    finally:
        lib.c.munmap(addr, size)


def _residency(addr: int, size: int, pages: int) -> bytes:
    lib = _lib()
    assert lib is not None
    vec = (ctypes.c_ubyte * pages)()
    if lib.c.mincore(addr, size, vec) != 0:
        raise OSError(ctypes.get_errno(), "mincore failed")
    return bytes(vec)


def _large_pages(addr: int, pages: int, resident: bytes) -> int | None:
    try:
        pm = open("/proc/self/pagemap", "rb")  # noqa: SIM115 - closed below
        kf = open("/proc/kpageflags", "rb")  # noqa: SIM115
    except OSError:
        return None
    with pm, kf:
        for i in range(pages):
            if resident[i] & 1:  # only pages already in the cache: reading must not load any
                ctypes.c_char.from_address(addr + i * PAGE).value  # noqa: B018 - map it
        pm.seek((addr // PAGE) * 8)
        entries = struct.unpack(f"<{pages}Q", pm.read(8 * pages))
        large = 0
        seen = 0
        for i, e in enumerate(entries):
            if not resident[i] & 1 or not e & _PM_PRESENT:
                continue
            pfn = e & _PFN_MASK
            if pfn == 0:
                return None  # frames hidden: not CAP_SYS_ADMIN
            seen += 1
            kf.seek(pfn * 8)
            (flags,) = struct.unpack("<Q", kf.read(8))
            if flags & (_KPF_COMPOUND_HEAD | _KPF_COMPOUND_TAIL):
                large += 1
        return large if seen else 0


def layout(path: str) -> Layout | None:
    """How ``path`` sits in the page cache now, without changing it; None off Linux or when
    the file cannot be mapped."""
    if _lib() is None:
        return None
    try:
        with _mapped(path) as (addr, size, pages):
            if not pages:
                return Layout(0, 0, 0)
            res = _residency(addr, size, pages)
            resident = sum(b & 1 for b in res)
            return Layout(pages, resident, _large_pages(addr, pages, res))
    except OSError:
        return None


def evict(path: str) -> int | None:
    """Write ``path`` back and drop it from the page cache; return the pages that stayed
    (mapped by a running process, or dirty), None off Linux."""
    if _lib() is None:
        return None
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            os.fdatasync(fd)
        except OSError:
            pass  # a read-only filesystem has nothing to write back
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    lay = layout(path)
    return None if lay is None else lay.resident


def load(path: str, timeout_s: float = 10.0) -> int:
    """Bring ``path`` back through the kernel's read path for mapped files; return how many
    pages are resident afterwards."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
    finally:
        os.close(fd)
    deadline = time.monotonic() + timeout_s
    with _mapped(path) as (addr, size, pages):
        if not pages:
            return 0
        while True:
            res = _residency(addr, size, pages)
            missing = [i for i in range(pages) if not res[i] & 1]
            if not missing or time.monotonic() > deadline:
                return pages - len(missing)
            for i in missing:  # a read fault on each page readahead has not brought in yet
                ctypes.c_char.from_address(addr + i * PAGE).value  # noqa: B018


@dataclass(frozen=True, slots=True)
class Normalised:
    """What ``normalise`` did to one binary: the layout before and after, and how many pages
    would not leave the cache (so kept the layout they had)."""

    before: Layout | None
    after: Layout | None
    stayed: int | None

    def to_json(self) -> dict[str, Any]:
        return {"before": None if self.before is None else self.before.to_json(),
                "after": None if self.after is None else self.after.to_json(),
                "pages_that_stayed": self.stayed}


def normalise(path: str) -> Normalised | None:
    """Give ``path`` the one state every binary of a run starts from (see the module
    docstring); None off Linux."""
    if _lib() is None:
        return None
    before = layout(path)
    stayed = evict(path)
    load(path)
    return Normalised(before, layout(path), stayed)
