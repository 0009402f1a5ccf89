"""The settings every service shares, and the rules its secrets follow.

Each service declares one subclass with its env prefix (`LINK_SVC_`, ...). The infrastructure a whole
stack shares can also be given once, unprefixed (`DATABASE_URL`, `KAFKA_BOOTSTRAP_SERVERS`,
`BANKSTREAM_ENV`, plus whatever a subclass adds to `shared_env`); the prefixed variable wins.

Secrets are `SecretStr` fields without defaults. Outside `env="dev"` a secret left at a placeholder is
refused: empty, a well-known placeholder word (`changeme`, `secret`, ...) or anything starting with
`dev-`/`dev_`. A URL-valued secret (a DSN) is judged by its password. Errors name the variable, never the
value (`hide_input_in_errors`).
"""

import os
import sys
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

Env = Literal["dev", "test", "prod"]

PLACEHOLDER_WORDS = frozenset(
    {"changeme", "change-me", "change_me", "secret", "password", "placeholder", "todo", "xxx", "none", "null"}
)
PLACEHOLDER_PREFIXES = ("dev-", "dev_")


def is_placeholder(value: str) -> bool:
    """True when a secret's value is obviously not a real secret."""
    v = value.strip().lower()
    if "://" in v:
        password = urlsplit(v).password
        if password is None:
            return False
        v = password
    return v in PLACEHOLDER_WORDS or v.startswith(PLACEHOLDER_PREFIXES) or "changeme" in v


class _SharedEnvSource(PydanticBaseSettingsSource):
    """Unprefixed variables shared by every service, weaker than the service's own prefixed ones."""

    def __init__(self, settings_cls: type[BaseSettings], environ: dict[str, str]) -> None:
        super().__init__(settings_cls)
        self._environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ does the work

    def __call__(self) -> dict[str, Any]:
        shared: dict[str, str] = getattr(self.settings_cls, "shared_env", {})
        return {name: self._environ[var] for name, var in shared.items() if self._environ.get(var)}


class BaseServiceSettings(BaseSettings):
    """Subclass once per service: set `model_config = service_config("LINK_SVC_")` and `service_name`."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    shared_env: ClassVar[dict[str, str]] = {
        "env": "BANKSTREAM_ENV",
        "database_url": "DATABASE_URL",
        "kafka_bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
    }

    env: Env = "prod"
    service_name: str
    http_host: str = "127.0.0.1"
    http_port: int
    # /metrics on its own listener (host, port), not on the API's port; None: on the API's port (dev)
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    database_url: SecretStr
    kafka_bootstrap_servers: str
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    shutdown_grace_seconds: float = 10.0

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        shared = _SharedEnvSource(settings_cls, dict(os.environ))
        return init_settings, env_settings, shared, dotenv_settings, file_secret_settings

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> "BaseServiceSettings":
        prefix = self.model_config.get("env_prefix", "")
        for name in type(self).model_fields:
            value = getattr(self, name)
            if not isinstance(value, SecretStr):
                continue
            raw = value.get_secret_value()
            var = f"{prefix}{name}".upper()
            if not raw.strip():
                raise ValueError(f"{var} is empty: every secret must be set")
            if self.env != "dev" and is_placeholder(raw):
                raise ValueError(
                    f"{var} is a placeholder; placeholders are accepted only when env=dev (env={self.env})"
                )
        return self


class ApiServiceSettings(BaseServiceSettings):
    """A service with an authenticated HTTP API: bearer JWTs from one issuer, checked with its PUBLIC keys
    (`<PREFIX>JWT_PUBLIC_KEYS`, JSON `{"<kid>": "<PEM>"}`, or `<PREFIX>JWT_JWKS`). With env=dev and none
    given, the dev issuer's key pair under the state directory is trusted (bankstream_common.dev_issuer).
    Subclasses set `jwt_audience` to their own name."""

    jwt_issuer: str = "bankstream-dev-issuer"
    jwt_audience: str
    jwt_public_keys: dict[str, str] = Field(default_factory=dict)
    jwt_jwks: str | None = None
    jwt_max_lifetime_seconds: float = 24 * 3600.0  # a token whose exp - iat is longer is refused

    @model_validator(mode="after")
    def _issuer_keys_outside_dev(self) -> "ApiServiceSettings":
        if self.env != "dev" and not (self.jwt_public_keys or self.jwt_jwks):
            prefix = self.model_config.get("env_prefix", "")
            raise ValueError(f"{prefix}JWT_PUBLIC_KEYS or {prefix}JWT_JWKS is required outside env=dev")
        return self


def service_config(env_prefix: str) -> SettingsConfigDict:
    """The model_config of a service's settings: the shared rules plus its env prefix."""
    return SettingsConfigDict(env_prefix=env_prefix, extra="ignore", frozen=True, hide_input_in_errors=True)


S = TypeVar("S", bound=BaseServiceSettings)


def load_settings(cls: type[S]) -> S:
    """Settings from the environment, or a short message on stderr and exit 2 (values never shown)."""
    try:
        return cls()  # type: ignore[call-arg]  # the fields come from the environment
    except ValidationError as exc:
        print(f"{cls.__module__}.{cls.__name__}: invalid configuration\n{exc}", file=sys.stderr)
        raise SystemExit(2) from None
