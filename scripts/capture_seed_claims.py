"""Capture a seed bench's claim inputs as test data: tests/data/seed/<name>/.

    python scripts/capture_seed_claims.py RESULT_DIR tests/data/seed/full

Writes ``static.json.gz`` (the bench's static.json, gzipped, unchanged), ``checks.json``
(unchanged), ``manifest.json`` (the build manifest with each binary cut to the fields the claims
read: name, target, platform, toolchain, go_version, go_source, post, sha256; and the skipped
list) and ``claims.json`` (what loadbench said then, unchanged). The tests evaluate the claims
again from the first three and compare with what the bench itself wrote.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

KEEP = ("name", "target", "goos", "goarch", "runnable", "toolchain", "go_version", "go_source",
        "post", "sha256")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    src, dest = Path(argv[0]), Path(argv[1])
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "static.json.gz").write_bytes(
        gzip.compress((src / "static.json").read_bytes(), compresslevel=9, mtime=0))
    shutil.copyfile(src / "checks.json", dest / "checks.json")
    shutil.copyfile(src / "claims.json", dest / "claims.json")
    manifest = json.loads((src / "bin" / "manifest.json").read_text())
    cut = {"manifest_version": manifest.get("manifest_version"),
           "binaries": [{k: b.get(k) for k in KEEP} for b in manifest.get("binaries", [])],
           "skipped": manifest.get("skipped", [])}
    (dest / "manifest.json").write_text(json.dumps(cut, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
