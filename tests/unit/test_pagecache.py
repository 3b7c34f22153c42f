"""The page-cache state of a file, read and normalised on real files in the real page cache.

Reading the large-folio share needs root (page frame numbers are hidden otherwise); the
residency and eviction tests run as any user on Linux.
"""

from __future__ import annotations

import mmap
import os
import shutil
import sys
from pathlib import Path

import pytest

from loadbench import pagecache

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux page cache")
root = pytest.mark.skipif(os.geteuid() != 0, reason="page frames (large folios) need root")

SIZE = 2 << 20  # 512 pages


def _written_small(path: Path) -> None:
    """Like the Go linker: many small writes, which the kernel caches as 4 KiB pages."""
    block = os.urandom(4096)
    with open(path, "wb", buffering=0) as f:
        for _ in range(SIZE // 4096):
            f.write(block)


def _layout(path: Path) -> pagecache.Layout:
    lay = pagecache.layout(str(path))
    assert lay is not None
    return lay


def test_evict_then_load_brings_every_page_back(tmp_path: Path) -> None:
    p = tmp_path / "f"
    _written_small(p)
    assert _layout(p).pages == SIZE // 4096
    assert pagecache.evict(str(p)) == 0
    assert _layout(p).resident == 0
    assert pagecache.load(str(p)) == SIZE // 4096
    assert _layout(p).resident == SIZE // 4096


def test_reading_the_layout_does_not_load_anything(tmp_path: Path) -> None:
    p = tmp_path / "f"
    _written_small(p)
    pagecache.evict(str(p))
    for _ in range(3):
        assert _layout(p).resident == 0


def test_mapped_pages_do_not_leave_and_are_reported(tmp_path: Path) -> None:
    p = tmp_path / "f"
    _written_small(p)
    with open(p, "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
        m[:SIZE:4096]  # map every page, as a running copy of the binary would
        stayed = pagecache.evict(str(p))
        assert stayed is not None and stayed > 0
        done = pagecache.normalise(str(p))
        assert done is not None and done.stayed is not None and done.stayed > 0


@root
def test_a_copy_sits_in_large_folios_until_normalised(tmp_path: Path) -> None:
    linker = tmp_path / "linker-output"
    _written_small(linker)
    copy = tmp_path / "copy"
    shutil.copyfile(linker, copy)  # copy_file_range/sendfile: large writes
    before = (_layout(linker).large_share, _layout(copy).large_share)
    assert before[0] is not None and before[1] is not None
    assert before[0] < 0.1 < 0.5 < before[1], before
    after = [pagecache.normalise(str(p)) for p in (linker, copy)]
    for done in after:
        assert done is not None and done.after is not None and done.before is not None
        assert done.after.resident == done.after.pages
    shares = [d.after.large_share for d in after if d is not None and d.after is not None]
    assert shares[0] == shares[1], shares  # one state for both, whoever wrote them
    assert after[1] is not None and after[1].before is not None
    assert after[1].before.large_share == before[1]
    js = after[1].to_json()
    assert js["before"]["large_folio_share"] == round(before[1], 4)
    assert js["pages_that_stayed"] == 0
