"""sync-worker's settings: every variable is `SYNC_WORKER_<FIELD>`; the shared ones also work unprefixed.

See bankstream_common.settings for the shared fields and the rule secrets follow. The sync history API
takes bearer JWTs like every API (`SYNC_WORKER_JWT_PUBLIC_KEYS` / `SYNC_WORKER_JWT_JWKS`, audience
`sync-worker`; with env=dev and none given, the dev issuer's key).
"""

from typing import ClassVar, Literal

from bankstream_common.settings import ApiServiceSettings, service_config
from pydantic import Field, SecretStr


class Settings(ApiServiceSettings):
    model_config = service_config("SYNC_WORKER_")

    shared_env: ClassVar[dict[str, str]] = {
        **ApiServiceSettings.shared_env,
        "plaid_env": "PLAID_ENV",
        "plaid_base_url": "PLAID_BASE_URL",
        "plaid_client_id": "PLAID_CLIENT_ID",
        "plaid_secret": "PLAID_SECRET",
        "link_svc_url": "LINK_SVC_URL",
    }

    service_name: str = "sync-worker"
    http_port: int = 8002
    jwt_audience: str = "sync-worker"  # bearer JWTs of the history API: see ApiServiceSettings

    plaid_env: Literal["sandbox", "production", "emulator"] = "emulator"
    plaid_base_url: str | None = None  # the emulator's URL; None means Plaid's URL for plaid_env
    plaid_client_id: str
    plaid_secret: SecretStr
    plaid_timeout_seconds: float = 30.0
    plaid_initial_days_requested: int = Field(730, ge=1, le=730)  # the initial backfill: up to 24 months
    # Plaid's limits on /transactions/sync, per Item and per client (all workers together), kept by
    # waiting, in PostgreSQL (adapters/pacing.py); 0: that limit is not paced
    plaid_sync_calls_per_window: int = Field(50, ge=0)
    plaid_client_sync_calls_per_window: int = Field(2500, ge=0)
    plaid_sync_window_seconds: float = Field(60.0, gt=0)

    # where access tokens come from (never Kafka): link-svc's internal vault API
    link_svc_url: str = "http://127.0.0.1:8001"
    link_svc_token: SecretStr  # service token with scope vault:read

    # all: consumer + scheduler + relay in one process; sync / relay: split them over two processes
    # (two cores: the relay publishes one Item's events while the scheduler pages others)
    role: Literal["all", "sync", "relay"] = "all"
    schema_name: str = "sync_worker"
    consumer_group: str = "sync-worker"
    max_concurrent_syncs: int = 8  # different Items syncing at once in this process
    # processes that parse pages and build their events (CPU-bound, off the event loop); 0: in-process
    page_processes: int = Field(2, ge=0, le=16)
    lease_seconds: float = 30.0
    poll_interval_seconds: float = 1.0
    quiet_after_seconds: float = 6 * 3600.0  # the fallback for lost webhooks
    quiet_check_interval_seconds: float = 300.0
    item_health_interval_seconds: float = 60.0  # how often the Item freshness gauges are sampled
    not_ready_retry_seconds: float = 60.0
    max_pagination_restarts: int = 5
    call_attempts: int = 5
    rate_limit_attempts: int = 6
    run_attempts: int = 5
    run_retry_base_seconds: float = 30.0
    topic_partitions: int = 6
    relay_batch_size: int = 5000  # outbox rows per relay batch (two batches in flight)
    topic_prefix: str = ""  # tests and side-by-side stacks: "<prefix>bankstream.transactions"
