"""cfn-lint (the version pinned in infra/requirements.txt) finds no error or warning in the templates.

Informational findings (rule ids starting with I) are left out, as the cfn-lint CLI does by default.
"""

from __future__ import annotations

import json
from typing import Any

from tests.infra.conftest import DUMMY_REGION, Synthesized, optional_module

# Findings in resources aws-cdk-lib generates itself, not in anything infra/ declares.
AWS_CUSTOM_RESOURCE_PROVIDER = "AWS679f53fac002430cb0da5b7982bd2287"  # cr.AwsCustomResource's singleton
KNOWN = {("W3005", AWS_CUSTOM_RESOURCE_PROVIDER)}  # a DependsOn that a GetAtt already implies


def _known(match: Any) -> bool:
    rule = match.rule.id
    path = [str(p) for p in match.path]
    return any(rule == r and len(path) > 1 and path[1].startswith(prefix) for r, prefix in KNOWN)


def test_cfn_lint_clean(each: Synthesized) -> None:
    lint = optional_module("cfnlint.api").lint
    matches = lint(each.path.read_text(), regions=[DUMMY_REGION])
    findings = [str(m) for m in matches if not m.rule.id.startswith("I") and not _known(m)]
    assert findings == []


def test_cdk_built_in_validation_is_clean(each: Synthesized) -> None:
    """aws-cdk-lib's own validation plugin (report written next to the template)."""
    report = json.loads((each.path.parent / "validation-report.json").read_text())
    violations = [v["description"] for r in report["pluginReports"] for v in r.get("violations", [])]
    assert violations == []
