"""A binary that disappears between the checks and the first session's page-cache work ends the
run with one line, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadbench import pagecache, runner


def test_binary_deleted_before_the_cache_is_normalised(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    exe = tmp_path / "a"
    exe.write_bytes(b"\x7fELF" + b"\0" * 64)
    exe.chmod(0o755)
    real = pagecache.normalise

    def vanish(path: str) -> pagecache.Normalised | None:
        Path(path).unlink()
        return real(path)

    monkeypatch.setattr(pagecache, "normalise", vanish)
    with pytest.raises(runner.RunError, match="was deleted during the run"):
        runner.run([runner.TargetSpec("a", str(exe))], tmp_path / "out",
                   runner.RunOptions(runs=2, warmup=0, probe="fake", calibrate=False))
