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

    db_pool_size: int = 10
    schema_name: str = "ledger_api"
    consumer_group: str = "ledger-api"
    topic_partitions: int = 6
    topic_prefix: str = ""  # tests and side-by-side stacks: "<prefix>bankstream.items"
    # records one poll may return (all partitions): each partition's share is applied in one transaction
    projection_max_records: int = Field(2000, ge=1, le=20_000)
