"""Kafka plumbing: the idempotent producer, declared topics, the consumer runner, dead-letter topics."""
