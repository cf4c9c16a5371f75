"""``/metrics`` for Prometheus on the Manager: latencies, tasks, workers, update queue, store use.

Gauges are computed at scrape time from the in-memory state; counters say how
many store commands and group commits the journal made (what the dispatch
benchmark reads). The scrape is guarded like the dashboard (``dashboard_password``).
"""
from __future__ import annotations

import collections
import gc
import time
from typing import Iterable, Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, GCCollector, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from flamenco_manager.api.auth import CTX_KEY, Handler
from flamenco_manager.context import ManagerContext
from flamenco_manager.dashboard.auth import require_human

# Worker calls are expected within milliseconds; a /task that takes
# a second is the scheduler stalling.
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ManagerCollector(Collector):
    """Gauges read from the Manager's state when Prometheus scrapes."""

    def __init__(self, ctx: ManagerContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        state = self.ctx.state
        yield counted_by_status("flamenco_manager_tasks", "Cached tasks, per status.",
                                list(state.tasks.values()))
        yield counted_by_status("flamenco_manager_workers", "Registered workers, per status.",
                                list(state.workers.values()))
        yield GaugeMetricFamily("flamenco_manager_update_queue_length",
                                "Task updates waiting to be acknowledged by the Server.", value=len(state.updates))
        yield GaugeMetricFamily("flamenco_manager_update_rejects",
                                "Task updates the Server never acknowledged, set aside.",
                                value=self.ctx.store.count_rejects())
        yield CounterMetricFamily("flamenco_manager_store_commands",
                                  "Commands the journal sent to the store (a bulk write counts once).",
                                  value=self.ctx.store.commands)
        yield CounterMetricFamily("flamenco_manager_journal_flushes", "Group commits written.",
                                  value=self.ctx.journal.flushes)
        yield GaugeMetricFamily("flamenco_manager_gc_frozen_objects",
                                "Objects Python's cycle collector never scans again (engine.tune_garbage_collector).",
                                value=gc.get_freeze_count())


def counted_by_status(name: str, doc: str, docs: Iterable[dict]) -> GaugeMetricFamily:
    """A gauge with a ``status`` label from documents' ``status`` fields."""
    counts = collections.Counter(d.get("status") or "none" for d in docs)
    gauge = GaugeMetricFamily(name, doc, labels=["status"])
    for status, count in sorted(counts.items()):
        gauge.add_metric([status], count)
    return gauge


class AppMetrics:
    """The per-app registry and the request-latency histogram in it."""

    def __init__(self, ctx: ManagerContext) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram("flamenco_manager_http_request_duration_seconds",
                                 "Time to answer an HTTP request, by route.",
                                 ["method", "route", "status"], buckets=LATENCY_BUCKETS,
                                 registry=self.registry)
        self.registry.register(ManagerCollector(ctx))
        GCCollector(registry=self.registry)  # collections per generation: pauses of the event loop


METRICS_KEY = web.AppKey("flamenco_manager_metrics", AppMetrics)


@web.middleware
async def observe_latency(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as ex:
        status = ex.status
        raise
    finally:
        # The route, not the path: one series per route, whatever the ids.
        info = request.match_info.route.resource
        route = info.canonical if info is not None else "unmatched"
        request.app[METRICS_KEY].latency.labels(request.method, route, str(status)) \
            .observe(time.perf_counter() - started)


@require_human
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format."""
    body = generate_latest(request.app[METRICS_KEY].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def init_app(app: web.Application) -> None:
    app[METRICS_KEY] = AppMetrics(app[CTX_KEY])
    app.router.add_get("/metrics", metrics, allow_head=False)
