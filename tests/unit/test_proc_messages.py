"""A tool's failure is reported by the line that says why, not by the lines that happen to come
last (gcc's source excerpt after "fatal error: ... No space left on device" hid the reason)."""

from __future__ import annotations

import sys

import pytest

from loadbench import _proc

GCC_FULL_TMP = """launcher.c: In function 'main':
launcher.c:320:1: fatal error: error writing to /tmp/ccrYAViu.s: No space left on device
  320 | }
      | ^
compilation terminated.
"""


def test_the_error_line_leads() -> None:
    msg = _proc._tail(GCC_FULL_TMP)
    assert msg.startswith("launcher.c:320:1: fatal error: error writing to /tmp/ccrYAViu.s: "
                          "No space left on device")
    assert msg.endswith("| ^")  # three lines at most: the excerpt's "320 | }" and "| ^"
    assert "compilation terminated" not in msg


def test_without_an_error_line_the_last_lines() -> None:
    assert _proc._tail("one\ntwo\nthree\nfour\n") == "two | three | four"


def test_a_failing_tool_says_why_in_one_line() -> None:
    with pytest.raises(_proc.ToolError) as ei:
        _proc.run([sys.executable, "-c",
                   "import sys; sys.stderr.write('start\\nError: disk on fire\\nat 1\\nat 2\\n"
                   "at 3\\n'); sys.exit(3)"])
    assert "exited with 3" in str(ei.value)
    assert "Error: disk on fire | at 1 | at 2" in str(ei.value)
    assert "\n" not in str(ei.value)
