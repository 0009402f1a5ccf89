"""link-svc's adapters: PostgreSQL, Kafka and other clients, translated into the domain's errors."""
