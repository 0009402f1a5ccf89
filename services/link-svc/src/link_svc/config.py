"""link-svc's settings: every variable is `LINK_SVC_<FIELD>`; the shared ones also work unprefixed.

See bankstream_common.settings for the shared fields and the rule secrets follow.
"""

from typing import ClassVar, Literal

from bankstream_common.settings import BaseServiceSettings, service_config
from pydantic import SecretStr


class Settings(BaseServiceSettings):
    model_config = service_config("LINK_SVC_")

    shared_env: ClassVar[dict[str, str]] = {
        **BaseServiceSettings.shared_env,
        "plaid_env": "PLAID_ENV",
        "plaid_base_url": "PLAID_BASE_URL",
        "plaid_client_id": "PLAID_CLIENT_ID",
        "plaid_secret": "PLAID_SECRET",
    }

    service_name: str = "link-svc"
    http_port: int = 8001

    plaid_env: Literal["sandbox", "production", "emulator"] = "emulator"
    plaid_base_url: str | None = None  # the emulator's URL; None means Plaid's URL for plaid_env
    plaid_client_id: str
    plaid_secret: SecretStr
