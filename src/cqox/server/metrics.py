"""Prometheus metrics of one app (its own registry, so several apps can coexist in tests).

- ``cqox_http_requests_total{method,route,status}`` — request rate by route template;
- ``cqox_http_request_errors_total{method,route,code}`` — error responses by code;
- ``cqox_http_request_duration_seconds{method,route}`` — latency histogram;
- ``cqox_analysis_duration_seconds{kind}`` and ``cqox_estimator_duration_seconds{estimator}``;
- ``cqox_jobs_total{kind,status}`` — finished jobs;
- ``cqox_job_queue_depth`` — jobs waiting for a worker;
- ``cqox_datasets`` — stored datasets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
ANALYSIS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class Metrics:
    """The service's metrics."""

    def __init__(self) -> None:
        disable_created_metrics()  # the *_created series only add noise to every counter
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "cqox_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.errors = Counter(
            "cqox_http_request_errors",
            "HTTP error responses",
            ["method", "route", "code"],
            registry=r,
        )
        self.latency = Histogram(
            "cqox_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.analysis = Histogram(
            "cqox_analysis_duration_seconds",
            "Analysis duration (engine time)",
            ["kind"],
            buckets=ANALYSIS_BUCKETS,
            registry=r,
        )
        self.estimator = Histogram(
            "cqox_estimator_duration_seconds",
            "Estimator duration",
            ["estimator"],
            buckets=ANALYSIS_BUCKETS,
            registry=r,
        )
        self.jobs = Counter("cqox_jobs", "Finished jobs", ["kind", "status"], registry=r)
        self.queue_depth = Gauge("cqox_job_queue_depth", "Jobs waiting for a worker", registry=r)
        self.datasets = Gauge("cqox_datasets", "Stored datasets", registry=r)

    def bind(self, queue_depth: Callable[[], int], datasets: Callable[[], int]) -> None:
        """Read the live gauges from the runner and the database at scrape time."""
        self.queue_depth.set_function(lambda: float(queue_depth()))
        self.datasets.set_function(lambda: float(datasets()))

    def observe_result(self, kind: str, status: str, result: dict[str, Any] | None) -> None:
        """Record a finished job and, when it succeeded, its durations."""
        self.jobs.labels(kind=kind, status=status).inc()
        if result:
            self.analysis.labels(kind=kind).observe(float(result.get("elapsed_s") or 0.0))
            for e in result.get("estimates") or []:
                self.estimator.labels(estimator=str(e.get("estimator"))).observe(
                    float(e.get("elapsed_s") or 0.0)
                )

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)
