"""Fuzzing of the parsers and decoders not fuzzed elsewhere: perf script lines, Go inittrace
text, launcher result lines, record JSON, matrix TOML and the inspector. Only each one's own
error type may ever escape (ETL and dtrace have their own fuzz tests)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadbench import builder, inspector, launch_native, storage
from loadbench.builder import matrix
from loadbench.perf import ParseError
from loadbench.perf.inittrace import parse_inittrace
from loadbench.perf.script import iter_events

DATA = Path(__file__).resolve().parents[1] / "data" / "perf"
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _real_perf_lines() -> list[str]:
    lines: list[str] = []
    for p in sorted(DATA.glob("*.txt")):
        lines += p.read_text(errors="replace").splitlines()[:400]
    return lines


REAL = _real_perf_lines()


@FUZZ
@given(st.lists(st.text(max_size=200), max_size=20))
def test_perf_script_arbitrary_lines(lines: list[str]) -> None:
    try:
        list(iter_events(lines))
    except ParseError:
        pass


@FUZZ
@given(st.data())
def test_perf_script_mutated_real_lines(data: st.DataObject) -> None:
    if not REAL:
        pytest.skip("no captured perf script output")
    picks = data.draw(st.lists(st.sampled_from(REAL), min_size=1, max_size=10))
    out = []
    for line in picks:
        cut = data.draw(st.integers(0, len(line)))
        junk = data.draw(st.text(max_size=8))
        out.append(line[:cut] + junk + line[cut:])
    try:
        list(iter_events(out))
    except ParseError:
        pass


@FUZZ
@given(st.text(max_size=500))
def test_inittrace_arbitrary_text(text: str) -> None:
    try:
        parse_inittrace(text)
    except ParseError:
        pass


@FUZZ
@given(st.text(max_size=120))
def test_launcher_lines(line: str) -> None:
    try:
        launch_native.parse_line(line)
    except ValueError:
        pass


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                     lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c,
                                                                         max_size=4),
                     max_leaves=20)


@FUZZ
@given(_json)
def test_record_json_arbitrary(tmp_path_factory: pytest.TempPathFactory, value: object) -> None:
    p = tmp_path_factory.mktemp("rec") / "record.json"
    p.write_text(json.dumps(value))
    try:
        storage.load_record(p)
    except storage.RecordError as e:
        assert "\n" not in str(e)


@FUZZ
@given(st.data())
def test_record_json_mutated_valid_record(tmp_path_factory: pytest.TempPathFactory,
                                          data: st.DataObject) -> None:
    from loadbench.model import (
        BinaryRef,
        LaunchStatus,
        Measurement,
        ProbeInfo,
        Record,
        RunSpec,
        Sample,
    )

    s = Sample(index=0, status=LaunchStatus.OK, wall_ns=5)
    rec = Record(run_id="r", created_utc="t", host={}, probe=ProbeInfo("rusage", "1"),
                 spec=RunSpec(runs=1, warmup=0, seed=1, timeout_s=1.0, env={}),
                 measurements=(Measurement("a", BinaryRef("/a", "00"), (), (s,)),))
    text = json.dumps(rec.to_json())
    # delete a random slice or replace a character: truncations, broken values, wrong types
    i = data.draw(st.integers(0, len(text)))
    j = data.draw(st.integers(i, min(len(text), i + 12)))
    text = text[:i] + data.draw(st.sampled_from(["", "1", '"x"', "null", "[]", "{}"])) + text[j:]
    p = tmp_path_factory.mktemp("rec") / "record.json"
    p.write_text(text)
    try:
        storage.load_record(p)
    except storage.RecordError as e:
        assert "\n" not in str(e)


@FUZZ
@given(st.text(max_size=300))
def test_matrix_toml(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    p = tmp_path_factory.mktemp("m") / "m.toml"
    p.write_text(text)
    try:
        matrix.load_matrix(str(p))
    except builder.BuildError:
        pass


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_inspector_on_mutated_binaries(tmp_path_factory: pytest.TempPathFactory,
                                       data: st.DataObject) -> None:
    src = Path("/usr/bin/true").read_bytes()
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    blob = bytearray(src[: data.draw(st.integers(0, len(src)))])
    for _ in range(data.draw(st.integers(0, 30))):
        if blob:
            blob[rng.randrange(len(blob))] = rng.randrange(256)
    p = tmp_path_factory.mktemp("bin") / "x"
    p.write_bytes(bytes(blob))
    try:
        inspector.inspect_file(p)
    except inspector.InspectError:
        pass
