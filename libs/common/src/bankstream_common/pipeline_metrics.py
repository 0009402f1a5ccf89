"""Metrics of the shared pipeline (outbox relay, consumer runner), registered in the service's registry.

Names follow `<service>_<thing>_<unit>`; labels are small enums (topic, outcome), never ids.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class PipelineMetrics:
    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        p = service.replace("-", "_")
        self.outbox_published = Counter(
            f"{p}_outbox_published_total",
            "Outbox rows published to Kafka (acknowledged, then deleted).",
            ["topic"],
            registry=registry,
        )
        self.outbox_unpublished = Gauge(
            f"{p}_outbox_unpublished_events",
            "Events committed to the outbox and not yet published (sampled from PostgreSQL).",
            registry=registry,
        )
        self.outbox_oldest_age = Gauge(
            f"{p}_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox row, 0 when none (sampled from PostgreSQL).",
            registry=registry,
        )
        self.outbox_batch = Histogram(
            f"{p}_outbox_publish_batch_seconds",
            "Time to publish one relay batch and mark it sent.",
            registry=registry,
        )
        self.outbox_errors = Counter(
            f"{p}_outbox_publish_errors_total",
            "Relay batches that failed and will be retried.",
            registry=registry,
        )
        self.outbox_dead_lettered = Counter(
            f"{p}_outbox_dead_lettered_total",
            "Outbox rows Kafka can never accept (too large, refused alone), set aside in <topic>.dlq.",
            ["topic"],
            registry=registry,
        )
        self.outbox_leadership_lost = Counter(
            f"{p}_outbox_leadership_lost_total",
            "Times the relay lost its lock (its lock connection dropped) and stopped publishing.",
            registry=registry,
        )
        self.consumed = Counter(
            f"{p}_events_consumed_total",
            "Events taken from Kafka, by outcome.",
            ["topic", "outcome"],
            registry=registry,
        )
        self.retries = Counter(
            f"{p}_event_retries_total",
            "Handler attempts that failed and were retried.",
            ["topic", "reason"],
            registry=registry,
        )
        self.consumer_lag = Gauge(
            f"{p}_consumer_lag_messages",
            "Records in a partition after the group's committed offset (end offset - committed), per "
            "assigned partition, sampled by the consumer that owns it.",
            ["group", "topic", "partition"],
            registry=registry,
        )
        self.consumer_last_poll = Gauge(
            f"{p}_consumer_last_poll_timestamp_seconds",
            "Unix time the consumer loop has progressed to, set at each poll: now when no poll is in "
            "hand, else the later of when the oldest poll being applied was read and when the poll before "
            "it ended (a stalled loop or a wedged batch stops moving it).",
            ["group"],
            registry=registry,
        )
        self.dlq_messages = Gauge(
            f"{p}_dlq_messages",
            "Records held in a dead-letter topic (end offset - start offset), for the DLQs of the topics "
            "this service consumes.",
            ["topic"],
            registry=registry,
        )
        self.handle_seconds = Histogram(
            f"{p}_event_handle_seconds",
            "Time to apply one event (transaction included).",
            ["topic"],
            registry=registry,
        )
