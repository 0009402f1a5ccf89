"""Kafka plumbing: the idempotent producer, declared topics, the consumer runner and its dead-letter topics."""
