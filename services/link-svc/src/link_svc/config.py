"""link-svc's settings: every variable is `LINK_SVC_<FIELD>`; the shared ones also work unprefixed.

See bankstream_common.settings for the shared fields and the rule secrets follow. Secrets of this service:
the Plaid secret and the vault keys (`LINK_SVC_VAULT_KEYS`, JSON `{"<key id>": "<base64url 32 bytes>"}`,
the active one named by `LINK_SVC_VAULT_ACTIVE_KEY_ID`). The JWT issuer's keys are PUBLIC keys
(`LINK_SVC_JWT_PUBLIC_KEYS`, JSON `{"<kid>": "<PEM>"}`, or `LINK_SVC_JWT_JWKS`); with env=dev and none
given, the dev issuer's key pair under the state directory is used (see entrypoints/devtoken.py).
"""

from typing import ClassVar, Literal

from bankstream_common.settings import ApiServiceSettings, service_config
from pydantic import Field, SecretStr, model_validator


class Settings(ApiServiceSettings):
    model_config = service_config("LINK_SVC_")

    shared_env: ClassVar[dict[str, str]] = {
        **ApiServiceSettings.shared_env,
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
    plaid_timeout_seconds: float = 30.0
    plaid_max_concurrency: int = 16

    # Link
    link_client_name: str = "bankstream"
    link_country_codes: list[str] = Field(default_factory=lambda: ["US"])
    link_language: str = "en"
    link_products: list[str] = Field(default_factory=lambda: ["transactions"])  # a link token's by default
    # what a caller may ask for instead (some products are billed per Item): `link_products` when unset
    link_allowed_products: list[str] | None = None
    link_days_requested: int = Field(730, ge=1, le=730)
    link_webhook_url: str | None = None  # where Plaid sends this deployment's webhooks
    link_redirect_uri: str | None = None  # OAuth institutions; never taken from a request
    # POST /v1/items retries Plaid's transient failures this long, then answers 503 and finishes the
    # exchanged Item's set-up in the background (every item_setup_interval_seconds, backoff per Item)
    link_exchange_budget_seconds: float = Field(8.0, gt=0)
    item_setup_interval_seconds: float = Field(5.0, gt=0)
    item_setup_max_delay_seconds: float = Field(300.0, gt=0)  # an Item's pause between attempts, at most

    jwt_audience: str = "link-svc"  # bearer JWTs: see ApiServiceSettings

    # Token vault
    vault_keys: SecretStr
    vault_active_key_id: str

    # Webhooks
    webhook_max_age_seconds: float = 300.0  # a JWT's iat at most this old (Plaid: 5 minutes)
    webhook_iat_leeway_seconds: float = 60.0  # and at most this far in the future
    webhook_key_refresh_seconds: float = 3600.0
    # Fetches of kids not in the key cache (a flood of invented kids costs at most this many Plaid calls)
    webhook_key_fetch_burst: int = Field(5, ge=1)
    webhook_key_fetch_interval_seconds: float = Field(10.0, gt=0)  # one more fetch allowed per interval
    # A delivery (its JWT) is remembered while a replay of it could still verify: at least its iat window.
    webhook_replay_retention_seconds: float = 600.0
    webhook_prune_interval_seconds: float = 60.0
    # the audit of Plaid calls (`plaid_calls`): kept this long, pruned every audit_prune_interval_seconds
    plaid_calls_retention_days: float = Field(90.0, gt=0)
    audit_prune_interval_seconds: float = Field(3600.0, gt=0)
    item_health_interval_seconds: float = 60.0  # how often the Items-by-status gauges are sampled

    db_pool_size: int = 20
    webhook_pool_size: int = 10
    schema_name: str = "link_svc"
    consumer_group: str = "link-svc"
    topic_partitions: int = 6
    topic_prefix: str = ""  # tests and side-by-side stacks: "<prefix>bankstream.items"

    @property
    def products_allowed(self) -> frozenset[str]:
        return frozenset(self.link_allowed_products or self.link_products)

    @model_validator(mode="after")
    def _plaid_target(self) -> "Settings":
        if not set(self.link_products) <= self.products_allowed:
            raise ValueError("LINK_SVC_LINK_PRODUCTS must be within LINK_SVC_LINK_ALLOWED_PRODUCTS")
        if self.plaid_env == "emulator" and not self.plaid_base_url:
            raise ValueError("PLAID_ENV=emulator needs PLAID_BASE_URL (the emulator's URL)")
        if (
            self.webhook_replay_retention_seconds
            < self.webhook_max_age_seconds + self.webhook_iat_leeway_seconds
        ):
            raise ValueError(
                "LINK_SVC_WEBHOOK_REPLAY_RETENTION_SECONDS must cover the iat window (max age + leeway): "
                "a replay of a delivery forgotten sooner would be published again"
            )
        return self
