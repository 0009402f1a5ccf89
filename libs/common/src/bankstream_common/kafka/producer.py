"""The one producer configuration every bankstream process uses: idempotent, acks from all replicas."""

from aiokafka import AIOKafkaProducer


def create_producer(bootstrap_servers: str, *, client_id: str, linger_ms: int = 5) -> AIOKafkaProducer:
    """Idempotent (no duplicates from the producer's own retries; per-partition order kept), `acks=all`."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=linger_ms,
        max_batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
        request_timeout_ms=30_000,
    )
