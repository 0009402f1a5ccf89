"""ledger-api's settings: every variable is `LEDGER_API_<FIELD>`; the shared ones also work unprefixed.

See bankstream_common.settings for the shared fields and the rule secrets follow.
"""

from bankstream_common.settings import ApiServiceSettings, service_config
from pydantic import Field


class Settings(ApiServiceSettings):
    model_config = service_config("LEDGER_API_")

    service_name: str = "ledger-api"
    http_port: int = 8004
    jwt_audience: str = "ledger-api"  # bearer JWTs: see ApiServiceSettings

    db_pool_size: int = 20
    schema_name: str = "ledger_api"
    consumer_group: str = "ledger-api"
    topic_partitions: int = 6
    topic_prefix: str = ""  # tests and side-by-side stacks: "<prefix>bankstream.items"
    # records one poll may return (all partitions): each partition's share is applied in one transaction,
    # the partitions' transactions at once; 10,000 rather than 2,000: docs/ledger-api.md ("Larger polls")
    projection_max_records: int = Field(10_000, ge=1, le=20_000)

    # The read and edit API
    refresh_interval_seconds: float = Field(60.0, ge=0)  # POST /v1/items/{id}/refresh: at most one per Item
    stream_poll_seconds: float = Field(0.5, gt=0)  # GET /v1/stream polls the change table this often
    stream_max_seconds: float = Field(300.0, gt=0)  # a stream ends after this; clients resume (Last-Event-ID)
    stream_heartbeat_seconds: float = Field(15.0, gt=0)  # an SSE comment keeps idle connections open
    stream_max_clients: int = Field(200, ge=1)  # streams open at once per process (more: 503)

    # Reconciliations and CSV imports
    import_max_bytes: int = Field(20 * 1024 * 1024, ge=1024)  # POST /v1/imports body (the CSV inside JSON)
    import_batch_rows: int = Field(2000, ge=1, le=50_000)  # data lines per import batch (one transaction)
    import_poll_seconds: float = Field(2.0, gt=0)  # unfinished imports are looked for this often (also woken)
