"""ledger-api's settings: every variable is `LEDGER_API_<FIELD>`; the shared ones also work unprefixed.

See bankstream_common.settings for the shared fields and the rule secrets follow.
"""

from bankstream_common.settings import ApiServiceSettings, service_config


class Settings(ApiServiceSettings):
    model_config = service_config("LEDGER_API_")

    service_name: str = "ledger-api"
    http_port: int = 8004
    jwt_audience: str = "ledger-api"  # bearer JWTs: see ApiServiceSettings
