"""The shipped JSON Schema describes the records loadbench writes (fake-probe and real ones)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from loadbench import runner
from loadbench.model import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[2]


def _schema(version: int = SCHEMA_VERSION) -> dict:
    text = resources.files("loadbench").joinpath(
        f"schema/record-v{version}.schema.json").read_text()
    return json.loads(text)


def test_schema_is_valid_and_matches_version() -> None:
    schema = _schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION


def test_fake_run_record_validates(tmp_path: Path) -> None:
    p = tmp_path / "a"
    p.write_bytes(b"\x7fELF" + b"\0" * 100)
    p.chmod(0o755)
    runner.run([runner.TargetSpec("a", str(p))], tmp_path / "out",
               runner.RunOptions(runs=5, warmup=1, seed=1, probe="fake", calibrate=False,
                                 probe_settings={"fail": {}}))
    data = json.loads((tmp_path / "out" / "record.json").read_text())
    jsonschema.validate(data, _schema())


def test_committed_reference_records_validate() -> None:
    recs = sorted((ROOT / "results").glob("*/record.json"))
    if not recs:
        pytest.skip("no reference run committed under results/")
    for r in recs:
        data = json.loads(r.read_text())
        jsonschema.validate(data, _schema(data["schema_version"]))


def test_a_broken_record_is_rejected() -> None:
    bad = {"schema_version": 1, "run_id": "x", "created_utc": "t", "complete": True,
           "end_reason": "done", "host": {}, "probe": {"name": "rusage", "version": "1"},
           "spec": {"runs": 1, "warmup": 0, "seed": 1, "timeout_s": 1.0, "env": {}},
           "measurements": [{"name": "a", "binary": {"path": "/a", "sha256": "0"},
                             "samples": [{"index": 0, "status": "exploded", "wall_ns": 1}]}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, _schema())
