"""A small thread-safe metrics registry and the Prometheus text exposition format 0.0.4.

Three kinds, as Prometheus defines them: Counter (only goes up), Gauge (set to a value)
and Histogram (fixed buckets, cumulative on output, plus _sum and _count). Each metric
has a fixed tuple of label names; a sample is addressed by a tuple of label values in
the same order. Recording is a lock and a few additions, cheap enough for every signer
call and every HTTP request.

Label values must never carry a secret, a token, an identity id, a public key or event
content: only bounded, public names (signer ids, provider kinds, operations, route
templates, status classes, tenants). `render` escapes whatever it is given, but
choosing what goes into a label is the caller's job.

No dependency: the format (https://prometheus.io/docs/instrumenting/exposition_formats/)
is one line per sample, `name{label="value",...} number`, after `# HELP` and `# TYPE`.
"""

from __future__ import annotations

import bisect
import math
import re
import threading
from collections.abc import Iterable, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "nostr_passport_"

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

# Seconds; signer calls run from ~1 ms (in-process simulator) to seconds (network HSMs).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

LabelValues = tuple[str, ...]


def escape_label_value(value: str) -> str:
    """Backslash, double quote and line feed escaped, as the format requires."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _labels_text(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    pairs = ",".join(
        f'{name}="{escape_label_value(value)}"' for name, value in zip(names, values, strict=True)
    )
    return "{" + pairs + "}"


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        if not _NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        for label in labelnames:
            if not _LABEL.match(label) or label.startswith("__") or label == "le":
                raise ValueError(f"invalid label name {label!r}")
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)
        self._lock = threading.Lock()

    def _check(self, labels: LabelValues) -> None:
        if len(labels) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {labels}")

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]

    def render(self) -> list[str]:
        raise NotImplementedError


class _Scalar(_Metric):
    """One number per label set: what counters and gauges share."""

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        # A metric without labels exists (at 0) from the start: rate() and "> 0" work.
        self._values: dict[LabelValues, float] = {} if self.labelnames else {(): 0.0}

    def value(self, labels: LabelValues = ()) -> float:
        with self._lock:
            return self._values.get(labels, 0.0)

    def values(self) -> dict[LabelValues, float]:
        with self._lock:
            return dict(self._values)

    def render(self) -> list[str]:
        lines = self.header()
        for labels, value in sorted(self.values().items()):
            lines.append(
                f"{self.name}{_labels_text(self.labelnames, labels)} {format_value(value)}"
            )
        return lines


class Counter(_Scalar):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        if not name.endswith("_total"):
            raise ValueError(f"counter {name!r} must end in _total")
        super().__init__(name, help_text, labelnames)

    def inc(self, labels: LabelValues = (), amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        with self._lock:
            if labels not in self._values:
                self._check(labels)
                self._values[labels] = 0.0
            self._values[labels] += amount


class Gauge(_Scalar):
    kind = "gauge"

    def set(self, labels: LabelValues = (), value: float = 0.0) -> None:
        self._check(labels)
        with self._lock:
            self._values[labels] = float(value)

    def inc(self, labels: LabelValues = (), amount: float = 1.0) -> None:
        self._check(labels)
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount


class _HistogramSeries:
    __slots__ = ("buckets", "count", "sum")

    def __init__(self, size: int) -> None:
        self.buckets = [0] * size  # per bucket (not cumulative); the last is +Inf
        self.count = 0
        self.sum = 0.0


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, labelnames)
        bounds = tuple(float(b) for b in buckets if not math.isinf(b))
        if not bounds or list(bounds) != sorted(set(bounds)):
            raise ValueError("histogram buckets must be strictly increasing")
        self.bounds = bounds
        self._series: dict[LabelValues, _HistogramSeries] = {}

    def observe(self, labels: LabelValues, value: float) -> None:
        index = bisect.bisect_left(self.bounds, value)  # first bound >= value (le semantics)
        with self._lock:
            series = self._series.get(labels)
            if series is None:
                self._check(labels)
                series = self._series[labels] = _HistogramSeries(len(self.bounds) + 1)
            series.buckets[index] += 1
            series.count += 1
            series.sum += value

    def count(self, labels: LabelValues) -> int:
        with self._lock:
            series = self._series.get(labels)
            return 0 if series is None else series.count

    def counts(self) -> dict[LabelValues, int]:
        with self._lock:
            return {labels: s.count for labels, s in self._series.items()}

    def render(self) -> list[str]:
        with self._lock:
            snapshot = [
                (labels, list(s.buckets), s.count, s.sum) for labels, s in self._series.items()
            ]
        lines = self.header()
        names = (*self.labelnames, "le")
        for labels, buckets, count, total in sorted(snapshot, key=lambda item: item[0]):
            running = 0
            for bound, n in zip((*self.bounds, math.inf), buckets, strict=True):
                running += n
                text = _labels_text(names, (*labels, format_value(bound)))
                lines.append(f"{self.name}_bucket{text} {running}")
            plain = _labels_text(self.labelnames, labels)
            lines.append(f"{self.name}_sum{plain} {format_value(total)}")
            lines.append(f"{self.name}_count{plain} {count}")
        return lines


class Registry:
    """Metrics by name; `render` writes them all in registration order."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._lock = threading.Lock()

    def _add(self, metric: _Metric) -> None:
        with self._lock:
            if metric.name in self._metrics:
                raise ValueError(f"metric {metric.name} is registered twice")
            self._metrics[metric.name] = metric

    def counter(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Counter:
        metric = Counter(name, help_text, labelnames)
        self._add(metric)
        return metric

    def gauge(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Gauge:
        metric = Gauge(name, help_text, labelnames)
        self._add(metric)
        return metric

    def histogram(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> Histogram:
        metric = Histogram(name, help_text, labelnames, buckets)
        self._add(metric)
        return metric

    def metrics(self) -> list[_Metric]:
        with self._lock:
            return list(self._metrics.values())

    def names(self) -> set[str]:
        return {m.name for m in self.metrics()}


def render(registries: Iterable[Registry]) -> str:
    """The exposition text of every metric of `registries` (a name appears once)."""
    lines: list[str] = []
    seen: set[str] = set()
    for registry in registries:
        for metric in registry.metrics():
            if metric.name in seen:
                raise ValueError(f"metric {metric.name} exported twice")
            seen.add(metric.name)
            lines.extend(metric.render())
    return "\n".join(lines) + "\n"
