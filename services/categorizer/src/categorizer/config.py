"""categorizer's settings: every variable is `CATEGORIZER_<FIELD>`; the shared ones also work unprefixed.

See bankstream_common.settings for the shared fields and the rule secrets follow.
"""

from bankstream_common.settings import ApiServiceSettings, service_config


class Settings(ApiServiceSettings):
    model_config = service_config("CATEGORIZER_")

    service_name: str = "categorizer"
    http_port: int = 8003
    jwt_audience: str = "categorizer"  # bearer JWTs: see ApiServiceSettings
