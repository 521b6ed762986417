"""ops/alerts/nostr-passport.rules.yml: well formed, and every metric it names is exported.

The rules file keeps to a simple layout (one key per line, single-quoted expressions),
read here line by line, so the check needs no YAML library; where PyYAML happens to be
installed the file is also loaded with it and must give the same rules.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from nostr_passport.ops.gateway import OpsMetrics
from nostr_passport.ops.signer_metrics import SignerMetrics

from .conftest import Server
from .exposition import parse

RULES = Path(__file__).resolve().parents[2] / "ops" / "alerts" / "nostr-passport.rules.yml"
DURATION = re.compile(r"^\d+[smhd]$")
PROMETHEUS_BUILTINS = {"up"}


def _scalar(text: str) -> str:
    text = text.strip()
    if text.startswith("'"):
        assert text.endswith("'") and len(text) >= 2, text
        return text[1:-1].replace("''", "'")
    assert not text.startswith('"'), "use single quotes"
    return text


def read_rules(path: Path) -> list[dict[str, Any]]:
    """The active rules (comments ignored), each {alert, expr, for, labels, annotations}."""
    rules: list[dict[str, Any]] = []
    section: dict[str, str] | None = None
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[next(i for i, line in enumerate(lines) if not line.startswith("#"))] == "groups:"
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#") or line == "groups:":
            continue
        indent = len(line) - len(line.lstrip())
        body = line.strip()
        where = f"line {number}: {line!r}"
        if indent == 2:
            assert re.match(r"^- name: [a-z0-9-]+$", body), where
        elif indent == 4:
            assert body == "rules:", where
        elif indent == 6:
            match = re.match(r"^- alert: ([A-Za-z0-9]+)$", body)
            assert match, where
            rules.append({"alert": match.group(1), "labels": {}, "annotations": {}})
        elif indent == 8:
            key, sep, rest = body.partition(":")
            assert sep and key in {"expr", "for", "labels", "annotations"}, where
            if key in {"labels", "annotations"}:
                assert not rest.strip(), where
                section = rules[-1][key]
            else:
                rules[-1][key] = _scalar(rest)
                section = None
        elif indent == 10:
            key, sep, rest = body.partition(":")
            assert sep and section is not None, where
            section[key] = _scalar(rest)
        else:
            raise AssertionError(f"unexpected indentation, {where}")
    return rules


def test_rules_are_well_formed() -> None:
    rules = read_rules(RULES)
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)) >= 10
    for rule in rules:
        assert rule["expr"] and DURATION.match(rule["for"]), rule
        assert rule["labels"].get("severity") in {"critical", "warning"}, rule
        assert rule["annotations"].get("summary") and rule["annotations"].get("description")
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
    try:
        import yaml
    except ImportError:  # the line reader above is the check
        return
    loaded = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    flat = [r for group in loaded["groups"] for r in group["rules"]]
    assert [r["alert"] for r in flat] == names
    assert [r["expr"] for r in flat] == [r["expr"] for r in rules]


def test_the_alerts_asked_for_are_there() -> None:
    exprs = {r["alert"]: r["expr"] for r in read_rules(RULES)}
    assert "nostr_passport_signer_up == 0" in exprs.values()
    assert any("nostr_passport_required_signers" in e for e in exprs.values())
    assert any("signer_call_errors_total" in e and "> 0.05" in e for e in exprs.values())
    assert any('status="5xx"' in e for e in exprs.values())
    assert any("histogram_quantile(0.99" in e for e in exprs.values())
    assert any("audit_append_failures_total" in e for e in exprs.values())
    assert any("10 *" in e and "[1d]" in e and "tenant" in e for e in exprs.values())
    assert "certificate_expiry" in RULES.read_text(encoding="utf-8")  # the commented rule


def test_every_metric_in_an_expression_is_exported(sqlite_server: Server) -> None:
    """Names and label names in the rules, against a real scrape of a running gateway."""
    scraped = sqlite_server.admin.get("/metrics")
    assert scraped.status_code == 200
    families = parse(scraped.text)
    labels_of: dict[str, set[str]] = {}
    for name, family in families.items():
        found: set[str] = set()
        for _, labels, _ in family.samples:
            found |= set(labels) - {"le"}
        labels_of[name] = found
    # Families recorded as things happen may have no samples on a fresh gateway: their
    # label names come from their definitions.
    for registry in (SignerMetrics().registry, OpsMetrics().registry):
        for metric in registry.metrics():
            labels_of[metric.name] = labels_of.get(metric.name, set()) | set(metric.labelnames)
    for rule in read_rules(RULES):
        expr = rule["expr"]
        for match in re.finditer(r"\b(nostr_passport_[a-z0-9_]+)(\{[^}]*\})?", expr):
            name, selector = match.group(1), match.group(2) or ""
            base = name
            if base not in families:
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                assert base in families and families[base].kind == "histogram", (
                    f"{rule['alert']}: {name} is not exported"
                )
            known = labels_of[base]
            for label in re.findall(r"([a-z_]+)\s*=~?", selector):
                assert label in known | {"le"}, f"{rule['alert']}: {base} has no label {label}"
        for clause in re.findall(r"by \(([^)]*)\)", expr):
            for label in (part.strip() for part in clause.split(",")):
                assert label == "le" or any(label in ls for ls in labels_of.values()), (
                    f"{rule['alert']}: no metric has label {label}"
                )
        other = set(re.findall(r"\b([a-z_]+)\{", expr)) - {
            m for m in re.findall(r"\b(nostr_passport_[a-z0-9_]+)\{", expr)
        }
        assert other <= PROMETHEUS_BUILTINS, f"{rule['alert']}: unknown metrics {other}"
