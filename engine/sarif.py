"""SARIF 2.1.0: findings as one log for code scanning, with each verified rewrite as a fix."""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from goescape.engine.formats import KIND_TEXT, Finding, Fix, Replacement, _relative, kind_rule

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# The key under partialFingerprints; a new recipe for `fingerprint` takes a new version.
FINGERPRINT_KEY = "goescape/v1"
_SRCROOT = "%SRCROOT%"
_RULE_TEXT = {kind_rule(k): text for k, text in KIND_TEXT.items()}


def _artifact(path: Path, root: Path) -> dict[str, object]:
    rel = _relative(path, root)
    if rel is None:
        return {"uri": path.absolute().as_uri()}
    return {"uri": urllib.parse.quote(rel), "uriBaseId": _SRCROOT}


def _content(data: bytes) -> dict[str, str]:
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"binary": base64.b64encode(data).decode("ascii")}


def _sarif_fix(fix: Fix, root: Path) -> dict[str, object]:
    by_file: dict[Path, list[Replacement]] = {}
    for r in fix.replacements:
        by_file.setdefault(r.path, []).append(r)
    return {
        "description": {"text": fix.description},
        "artifactChanges": [
            {
                "artifactLocation": _artifact(path, root),
                "replacements": [
                    {
                        "deletedRegion": {"byteOffset": r.start, "byteLength": r.end - r.start},
                        "insertedContent": _content(r.text),
                    }
                    for r in reps
                ],
            }
            for path, reps in by_file.items()
        ],
    }


def sarif(
    findings: Sequence[Finding],
    *,
    root: Path,
    tool_version: str,
    go_version: str,
    properties: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    """One SARIF 2.1.0 log with one run: a rule per distinct `Finding.rule`, paths relative to `root`.

    Columns are the compiler's, which count bytes; SARIF's default column unit is UTF-16 code
    units, so a column after non-ASCII text on the same line points a little further right.
    """
    rules: dict[str, int] = {}
    descriptors: list[dict[str, object]] = []
    results: list[dict[str, object]] = []
    for f in findings:
        if f.rule not in rules:
            rules[f.rule] = len(descriptors)
            descriptors.append(
                {
                    "id": f.rule,
                    "shortDescription": {"text": f.rule_text or _RULE_TEXT.get(f.rule, f.rule)},
                    "defaultConfiguration": {"level": f.level.value},
                }
            )
        physical: dict[str, object] = {"artifactLocation": _artifact(f.path, root)}
        if f.line > 0:
            physical["region"] = {"startLine": f.line} | ({"startColumn": f.column} if f.column > 0 else {})
        result: dict[str, object] = {
            "ruleId": f.rule,
            "ruleIndex": rules[f.rule],
            "level": f.level.value,
            "message": {"text": f.message},
            "locations": [{"physicalLocation": physical}],
            "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
        }
        if f.fix is not None and f.fix.replacements:
            result["fixes"] = [_sarif_fix(f.fix, root)]
        results.append(result)
    base = root.absolute().as_uri()
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "goescape",
                        "version": tool_version,
                        "rules": descriptors,
                    }
                },
                "originalUriBaseIds": {_SRCROOT: {"uri": base if base.endswith("/") else base + "/"}},
                "results": results,
                "properties": {"go_version": go_version, **(properties or {})},
            }
        ],
    }
