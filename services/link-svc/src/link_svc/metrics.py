"""Every metric link-svc exports, declared here and nowhere else (names: `link_svc_<thing>_<unit>`)."""

from bankstream_common.metrics import HttpMetrics, MetricFactory
from bankstream_common.pipeline_metrics import PipelineMetrics
from prometheus_client import CollectorRegistry

SERVICE = "link-svc"


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        factory = MetricFactory(SERVICE, registry)
        self.http = HttpMetrics(factory)
        self.pipeline = PipelineMetrics(SERVICE, registry)
        self.plaid_calls = factory.counter(
            "plaid_calls_total",
            "Calls to Plaid, by endpoint, outcome and Plaid error code.",
            ["endpoint", "outcome", "error_code"],
        )
        self.plaid_call_duration = factory.histogram(
            "plaid_call_duration_seconds", "Latency of calls to Plaid.", ["endpoint"]
        )
        self.webhooks_accepted = factory.counter(
            "webhooks_accepted_total",
            "Verified Plaid webhooks, by outcome (published or duplicate).",
            ["webhook_type", "outcome"],
        )
        self.webhooks_rejected = factory.counter(
            "webhooks_rejected_total", "Plaid webhooks refused with 401, by reason.", ["reason"]
        )
        self.webhook_verify_duration = factory.histogram(
            "webhook_verify_duration_seconds",
            "Time to verify a webhook's signature and body hash.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0),
        )
        self.auth_failures = factory.counter(
            "auth_failures_total", "Requests refused for want of a valid token or scope.", ["outcome"]
        )
        self.link_tokens = factory.counter("link_tokens_created_total", "Link tokens created.", ["mode"])
        self.link_sessions = factory.counter(
            "link_session_events_total", "Link onSuccess / onExit reports recorded.", ["outcome"]
        )
        self.items_linked = factory.counter("items_linked_total", "Items linked (public token exchanged).")
        self.item_setups = factory.counter(
            "item_setups_total",
            "Exchanged Items' set-ups, by outcome: finished (in the request), deferred (Plaid failing "
            "transiently past the request's budget), finished_late (by a retry or the background), abandoned "
            "(removed at Plaid after a permanent failure), exchange_unknown (the exchange's answer was "
            "lost: Plaid may hold an Item never stored here).",
            ["outcome"],
        )
        self.item_setups_pending = factory.gauge(
            "item_setups_pending", "Exchanged Items whose set-up is not finished yet (Plaid bills them)."
        )
        self.plaid_retries = factory.counter(
            "plaid_retries_total", "Plaid calls retried within a request, by error code.", ["error_code"]
        )
        self.duplicates_refused = factory.counter(
            "duplicate_links_refused_total", "Links refused before the exchange as duplicates of an Item."
        )
        self.items_removed = factory.counter("items_removed_total", "Items removed.")
        self.status_changes = factory.counter(
            "item_status_changes_total",
            "Item status transitions, by target status and trigger.",
            ["to_status", "trigger"],
        )
        self.vault_releases = factory.counter(
            "vault_releases_total", "Access tokens released to internal callers, by outcome.", ["outcome"]
        )
        self.sync_requests = factory.counter("sync_requests_total", "On-demand syncs requested.")
        self.items = factory.gauge(
            "items",
            "Items by status and by how long they have been in it (a bucket, never an id).",
            ["status", "since"],
        )
