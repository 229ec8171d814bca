"""server.metrics.CallCounter: what a scrape shows of the calls counted."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from auditlog_tlog.server.metrics import LATENCY_BUCKETS, CallCounter


def _scrape(counter: CallCounter) -> list[str]:
    registry = CollectorRegistry()
    registry.register(counter)
    return generate_latest(registry).decode().splitlines()


def test_calls_by_method_and_code_and_latency_buckets() -> None:
    counter = CallCounter()
    counter.call("GetInclusionProof", "OK", 0.0001)  # on a bound: that bucket (le is <=)
    counter.call("GetInclusionProof", "OK", 0.0003)
    counter.call("GetInclusionProof", "NOT_FOUND", 7.0)  # above every bound: +Inf only
    counter.call("Append", "OK", 0.002)
    lines = _scrape(counter)
    assert 'auditlog_requests_total{code="OK",method="GetInclusionProof"} 2.0' in lines
    assert 'auditlog_requests_total{code="NOT_FOUND",method="GetInclusionProof"} 1.0' in lines
    assert 'auditlog_requests_total{code="OK",method="Append"} 1.0' in lines
    buckets = {line.split('le="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
               for line in lines
               if line.startswith("auditlog_request_seconds_bucket") and "GetInclusion" in line}
    assert list(buckets) == [*map(str, LATENCY_BUCKETS), "+Inf"]
    assert buckets["0.0001"] == 1 and buckets["0.0005"] == 2 and buckets["5.0"] == 2
    assert buckets["+Inf"] == 3
    assert 'auditlog_request_seconds_count{method="GetInclusionProof"} 3.0' in lines
    (total,) = [line for line in lines
                if line.startswith('auditlog_request_seconds_sum{method="GetInclusionProof"}')]
    assert abs(float(total.rsplit(" ", 1)[1]) - 7.0004) < 1e-9


def test_nothing_counted_shows_the_families_without_samples() -> None:
    lines = _scrape(CallCounter())
    assert "# TYPE auditlog_requests_total counter" in lines
    assert "# TYPE auditlog_request_seconds histogram" in lines
    assert not [line for line in lines if not line.startswith("#")]
