"""Bytes end to end: a path, an argument and an environment value that are not UTF-8 reach the
target exactly, are kept exactly in the record, and every output that people read shows them as
\\xNN instead of failing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def lb(*args: bytes | str) -> subprocess.CompletedProcess[bytes]:
    argv = [os.fsencode(sys.executable), b"-m", b"loadbench",
            *(a if isinstance(a, bytes) else a.encode() for a in args)]
    return subprocess.run(argv, capture_output=True, timeout=300)


@pytest.mark.parametrize("launcher", ["native", "python"])
def test_non_utf8_path_argument_and_environment(launcher: str, tmp_path: Path) -> None:
    d = os.fsencode(tmp_path) + b"/dir\xff"
    os.mkdir(d)
    seen = os.fsencode(tmp_path) + b"/seen"
    exe = d + b"/show\xfe"
    with open(exe, "wb") as f:
        f.write(b'#!/bin/sh\nprintf "%s|%s" "$1" "$K" > "$OUT"\n')
    os.chmod(exe, 0o755)
    out = os.fsencode(tmp_path) + b"/out\xfd"
    cp = lb("run", exe, "--name", "show", "--arg", b"a\xfcb", "--env", b"K=v\xfb",
            "--env", b"OUT=" + seen, "--runs", "3", "--warmup", "0", "--out", out,
            "--probe-opt", f"launcher={launcher}")
    assert cp.returncode == 0, cp.stderr
    with open(seen, "rb") as f:
        assert f.read() == b"a\xfcb|v\xfb"  # the target got the exact bytes
    rec_path = out + b"/record.json"
    with open(rec_path, "rb") as f:
        data = json.loads(f.read())  # valid JSON: the bytes are kept as \\udcNN escapes
    m = data["measurements"][0]
    assert os.fsencode(m["binary"]["path"]) == exe
    assert os.fsencode(m["argv"][0]) == b"a\xfcb"
    assert os.fsencode(data["spec"]["env"]["K"]) == b"v\xfb"
    for args in (["stats", out], ["stats", out, "--json"], ["compare", out, out],
                 ["report", out, "-o", out + b"/r.html"],
                 ["report", out, "--format", "md", "-o", out + b"/r.md"],
                 ["export", out, "--format", "csv", "-o", out + b"/c.csv"],
                 ["export", out, "--format", "hyperfine", "-o", out + b"/h.json"],
                 ["export", out, "--format", "pyperf", "-o", out + b"/p.json"],
                 ["inspect", exe]):
        cp = lb(*args)
        text = cp.stdout + cp.stderr
        assert b"Traceback" not in text, (args, text)
        assert cp.returncode in (0, 2), (args, text)
    with open(out + b"/r.md", "rb") as f:
        md = f.read()
    md.decode("utf-8")  # the report is UTF-8
    assert b"dir\\xff/show\\xfe" in md  # and shows the bytes as \xNN
    with open(out + b"/c.csv", "rb") as f:
        assert b"dir\\xff/show\\xfe" in f.read()
    cp = lb("stats", out)
    assert cp.returncode == 0 and b"Traceback" not in cp.stderr


def test_non_utf8_variant_name_in_the_plots(tmp_path: Path) -> None:
    """A variant named after a file whose name is not UTF-8 (no --name): the HTML report and
    `--figures` crashed inside matplotlib, which cannot draw lone surrogates."""
    exe = os.fsencode(tmp_path) + b"/t\xff"
    with open(exe, "wb") as f:
        f.write(b"#!/bin/sh\nexit 0\n")
    os.chmod(exe, 0o755)
    out = os.fsencode(tmp_path) + b"/out"
    cp = lb("run", exe, "/bin/true", "--runs", "3", "--warmup", "0", "--out", out)
    assert cp.returncode == 0, cp.stderr
    cp = lb("report", out, "-o", out + b"/r.html", "--figures", out + b"/figs")
    assert cp.returncode == 0 and b"Traceback" not in cp.stderr, cp.stderr
    with open(out + b"/r.html", "rb") as f:
        html = f.read()
    html.decode("utf-8")
    assert html.count(b"<svg") >= 2  # the figures are drawn, with the name shown as \xff
    assert b"t\\xff" in html
    assert len(os.listdir(out + b"/figs")) >= 2
