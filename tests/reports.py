"""goescape's JSON reports in tests: each one parsed and checked against the schema the package ships."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from goescape.engine.json_report import SCHEMA_FILE

SCHEMA: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def schema_errors(report: object) -> list[str]:
    """Where `report` breaks engine/schema/report.schema.json, one line each: for a choice of shapes
    (oneOf), the error inside the shape that came closest."""
    lines = []
    for error in VALIDATOR.iter_errors(report):
        while error.context:
            best = jsonschema.exceptions.best_match(error.context)
            if best is None:
                break
            error = best
        lines.append(f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message[:300]}")
    return lines


def report_json(text: str) -> dict[str, Any]:
    """The JSON report goescape scan, fix or check printed in `text`, validated against the schema."""
    report = json.loads(text)
    if errors := schema_errors(report):
        raise AssertionError("the report breaks its schema:\n" + "\n".join(errors[:10]))
    assert isinstance(report, dict)
    return report
