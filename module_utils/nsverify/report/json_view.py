"""The machine view: the whole report as JSON (schema nsverify-report/1), keys sorted so that two
runs with the same outcome differ only in the generation time and the volatile evidence."""

from __future__ import annotations

import json


def render_json(report):
    return json.dumps(report, indent=2, sort_keys=True, default=str) + "\n"
