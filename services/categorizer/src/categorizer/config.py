"""categorizer's settings: every variable is `CATEGORIZER_<FIELD>`; the shared ones also work unprefixed.

See bankstream_common.settings for the shared fields and the rule secrets follow. The JWT issuer's keys
are PUBLIC keys (`CATEGORIZER_JWT_PUBLIC_KEYS` or `CATEGORIZER_JWT_JWKS`; the dev issuer's with env=dev).
"""

from bankstream_common.settings import ApiServiceSettings, service_config
from pydantic import Field


class Settings(ApiServiceSettings):
    model_config = service_config("CATEGORIZER_")

    service_name: str = "categorizer"
    http_port: int = 8003
    jwt_audience: str = "categorizer"  # bearer JWTs: see ApiServiceSettings

    db_pool_size: int = 20
    schema_name: str = "categorizer"
    consumer_group: str = "categorizer"
    topic_partitions: int = 6
    topic_prefix: str = ""  # tests and side-by-side stacks: "<prefix>bankstream.transactions"
    consumer_max_records: int = Field(2000, ge=1)  # per fetch: a partition's share is one transaction

    job_batch_size: int = Field(500, ge=1, le=10_000)  # transactions per re-categorization batch
    job_poll_seconds: float = Field(2.0, gt=0)  # how often unfinished jobs are looked for (also woken)
    context_cache_size: int = Field(10_000, ge=0)  # users whose compiled rules stay in memory
    preview_limit: int = Field(100, ge=1, le=1000)  # changes listed by a rule preview (all are counted)
