"""The text exposition format of our registry, checked by an independent small parser."""

from __future__ import annotations

import math
import threading

import pytest

from nostr_passport.ops.metrics import Registry, escape_label_value, format_value, render

from .exposition import parse, value


def test_counters_gauges_histograms_render_and_parse() -> None:
    registry = Registry()
    calls = registry.counter("np_calls_total", "Calls.\nSecond line \\ too", ("op", "kind"))
    level = registry.gauge("np_level", "A level.")
    latency = registry.histogram("np_latency_seconds", "Latency.", ("op",), buckets=(0.1, 1.0))
    calls.inc(("sign", "a"))
    calls.inc(("sign", "a"), 2)
    calls.inc(("ecdh", 'q"u\\o\nte'))
    level.set((), 2.5)
    for seconds in (0.05, 0.1, 0.5, 3.0):
        latency.observe(("sign",), seconds)
    text = render([registry])
    families = parse(text)
    assert families["np_calls_total"].kind == "counter"
    assert families["np_calls_total"].help == "Calls.\\nSecond line \\\\ too"
    assert value(families, "np_calls_total", op="sign", kind="a") == 3
    assert value(families, "np_calls_total", kind='q"u\\o\nte') == 1  # escaped, then parsed
    assert value(families, "np_level") == 2.5
    assert value(families, "np_latency_seconds_bucket", op="sign", le="0.1") == 2  # le: <=
    assert value(families, "np_latency_seconds_bucket", op="sign", le="1") == 3
    assert value(families, "np_latency_seconds_bucket", op="sign", le="+Inf") == 4
    assert value(families, "np_latency_seconds_count", op="sign") == 4
    assert math.isclose(value(families, "np_latency_seconds_sum", op="sign"), 3.65)
    assert '{op="sign",le="+Inf"} 4' in text


def test_escaping_and_numbers() -> None:
    assert escape_label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert format_value(3.0) == "3" and format_value(0.25) == "0.25"
    assert format_value(math.inf) == "+Inf" and format_value(-math.inf) == "-Inf"
    assert format_value(math.nan) == "NaN"


def test_registry_refuses_bad_definitions() -> None:
    registry = Registry()
    with pytest.raises(ValueError, match="_total"):
        registry.counter("np_calls", "no suffix")
    with pytest.raises(ValueError, match="label"):
        registry.gauge("np_x", "bad label", ("le",))
    with pytest.raises(ValueError, match="metric name"):
        registry.gauge("np-x", "bad name")
    registry.gauge("np_x", "ok")
    with pytest.raises(ValueError, match="twice"):
        registry.gauge("np_x", "again")
    counter = registry.counter("np_y_total", "y", ("a",))
    with pytest.raises(ValueError):
        counter.inc(("a", "b"))
    with pytest.raises(ValueError):
        counter.inc(("a",), -1)
    with pytest.raises(ValueError, match="increasing"):
        registry.histogram("np_h", "h", buckets=(1.0, 0.5))


def test_recording_is_thread_safe() -> None:
    registry = Registry()
    calls = registry.counter("np_calls_total", "Calls.", ("op",))
    latency = registry.histogram("np_latency_seconds", "Latency.", ("op",))

    def work() -> None:
        for i in range(2000):
            calls.inc(("x",))
            latency.observe(("x",), i / 1000)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    families = parse(render([registry]))
    assert value(families, "np_calls_total") == 16000
    assert value(families, "np_latency_seconds_count") == 16000
    assert value(families, "np_latency_seconds_bucket", le="+Inf") == 16000


def test_empty_metrics_still_declare_their_type() -> None:
    registry = Registry()
    registry.counter("np_none_total", "Nothing yet.", ("op",))
    families = parse(render([registry]))
    assert families["np_none_total"].kind == "counter" and not families["np_none_total"].samples
