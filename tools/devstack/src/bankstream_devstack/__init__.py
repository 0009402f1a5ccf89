"""Local infrastructure without Docker: a real Kafka broker and PostgreSQL server as child processes."""
