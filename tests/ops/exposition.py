"""A small strict parser of the Prometheus text format 0.0.4, for checking our output."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$")
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


@dataclass
class Family:
    name: str
    kind: str = ""
    help: str = ""
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)


def _unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\\":
            nxt = value[i + 1]
            out.append({"\\": "\\", '"': '"', "n": "\n"}[nxt])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = _PAIR.match(text, pos)
        assert match, f"bad labels {text!r} at {pos}"
        assert match.group(1) not in labels, f"duplicate label in {text!r}"
        labels[match.group(1)] = _unescape(match.group(2))
        pos = match.end()
    return labels


def _family_of(name: str, families: dict[str, Family]) -> Family:
    if name in families:
        return families[name]
    for suffix in ("_bucket", "_sum", "_count"):
        base = name.removesuffix(suffix)
        if base != name and base in families and families[base].kind == "histogram":
            return families[base]
    raise AssertionError(f"sample {name} has no # TYPE line before it")


def parse(text: str) -> dict[str, Family]:
    """Families by name; asserts the structural rules as it goes."""
    assert text.endswith("\n"), "the exposition ends with a line feed"
    families: dict[str, Family] = {}
    for line in text.splitlines():
        assert line, "no empty lines"
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert name not in families, f"{name} declared twice"
            families[name] = Family(name, help=help_text)
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert kind in {"counter", "gauge", "histogram"}, line
            assert name in families and not families[name].kind, f"TYPE of {name} out of place"
            families[name].kind = kind
        else:
            match = _SAMPLE.match(line)
            assert match, f"bad sample line {line!r}"
            name, _, labels, value = match.groups()
            family = _family_of(name, families)
            number = float(value.replace("+Inf", "inf"))
            family.samples.append((name, parse_labels(labels or ""), number))
    for family in families.values():
        assert family.kind, f"{family.name} has no TYPE"
        if family.kind == "counter":
            assert family.name.endswith("_total")
            assert all(v >= 0 for _, _, v in family.samples)
        if family.kind == "histogram":
            check_histogram(family)
    return families


def check_histogram(family: Family) -> None:
    series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    sums: dict[tuple[tuple[str, str], ...], float] = {}
    counts: dict[tuple[tuple[str, str], ...], float] = {}
    for name, labels, value in family.samples:
        labels = dict(labels)
        if name.endswith("_bucket"):
            le = labels.pop("le")
            series.setdefault(tuple(sorted(labels.items())), []).append(
                (float(le.replace("+Inf", "inf")), value)
            )
        elif name.endswith("_sum"):
            sums[tuple(sorted(labels.items()))] = value
        elif name.endswith("_count"):
            counts[tuple(sorted(labels.items()))] = value
        else:
            raise AssertionError(f"{name} in histogram {family.name}")
    assert set(series) == set(sums) == set(counts), family.name
    for key, buckets in series.items():
        bounds = [b for b, _ in buckets]
        assert bounds == sorted(bounds) and len(set(bounds)) == len(bounds), family.name
        assert math.isinf(bounds[-1]), f"{family.name}: last bucket must be +Inf"
        values = [v for _, v in buckets]
        assert values == sorted(values), f"{family.name}: buckets must be cumulative"
        assert values[-1] == counts[key], f"{family.name}: +Inf bucket != _count"


def value(families: dict[str, Family], sample: str, **labels: str) -> float:
    """The sum of `sample`'s values whose labels include `labels`."""
    family = _family_of(sample, families)
    found = [
        v
        for name, got, v in family.samples
        if name == sample and all(got.get(k) == want for k, want in labels.items())
    ]
    assert found, f"no sample {sample} {labels}"
    return sum(found)
