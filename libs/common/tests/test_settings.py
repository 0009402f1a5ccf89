"""BaseServiceSettings: env prefix, the shared unprefixed fallbacks, and the secret rules."""

from typing import ClassVar

import pytest
from bankstream_common.settings import BaseServiceSettings, is_placeholder, load_settings, service_config
from pydantic import SecretStr, ValidationError


class DemoSettings(BaseServiceSettings):
    model_config = service_config("DEMO_")
    shared_env: ClassVar[dict[str, str]] = {
        **BaseServiceSettings.shared_env,
        "api_secret": "DEMO_SHARED_SECRET",
    }

    service_name: str = "demo"
    http_port: int = 8999
    api_secret: SecretStr


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "BANKSTREAM_ENV", "DEMO_SHARED_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DEMO_DATABASE_URL", "postgresql://app:s3cr3t-pw@db:5432/app")
    monkeypatch.setenv("DEMO_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("DEMO_API_SECRET", "a-real-secret-9f2c")
    monkeypatch.setenv("DEMO_ENV", "prod")
    return monkeypatch


def load() -> DemoSettings:
    return DemoSettings()  # type: ignore[call-arg]


def test_reads_prefixed_variables() -> None:
    s = load()
    assert (s.env, s.http_port, s.kafka_bootstrap_servers) == ("prod", 8999, "kafka:9092")
    assert s.api_secret.get_secret_value() == "a-real-secret-9f2c"
    assert "a-real-secret" not in repr(s) and "s3cr3t-pw" not in repr(s)


def test_shared_unprefixed_variables_fill_in_and_the_prefixed_one_wins(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.delenv("DEMO_KAFKA_BOOTSTRAP_SERVERS")
    clean_env.setenv("KAFKA_BOOTSTRAP_SERVERS", "shared:9092")
    clean_env.setenv("DATABASE_URL", "postgresql://shared/db")
    s = load()
    assert s.kafka_bootstrap_servers == "shared:9092"
    assert s.database_url.get_secret_value() == "postgresql://app:s3cr3t-pw@db:5432/app"


def test_a_subclass_can_share_more_variables(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.delenv("DEMO_API_SECRET")
    clean_env.setenv("DEMO_SHARED_SECRET", "from-the-shared-variable")
    assert load().api_secret.get_secret_value() == "from-the-shared-variable"


def test_secrets_are_required(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.delenv("DEMO_API_SECRET")
    with pytest.raises(ValidationError, match="api_secret"):
        load()


@pytest.mark.parametrize(
    "placeholder", ["changeme", "CHANGEME", "dev-only-secret", "dev_secret", "secret", " xxx "]
)
@pytest.mark.parametrize("env", ["test", "prod"])
def test_placeholders_are_refused_outside_dev_naming_the_variable_not_the_value(
    clean_env: pytest.MonkeyPatch, placeholder: str, env: str
) -> None:
    clean_env.setenv("DEMO_ENV", env)
    clean_env.setenv("DEMO_API_SECRET", placeholder)
    with pytest.raises(ValidationError) as err:
        load()
    assert "DEMO_API_SECRET is a placeholder" in str(err.value)
    assert placeholder.strip() not in str(err.value).replace("DEMO_API_SECRET", "")
    assert "s3cr3t-pw" not in str(err.value)


def test_placeholders_are_accepted_in_dev(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DEMO_ENV", "dev")
    clean_env.setenv("DEMO_API_SECRET", "dev-only-secret")
    assert load().api_secret.get_secret_value() == "dev-only-secret"


def test_an_empty_secret_is_refused_even_in_dev(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DEMO_ENV", "dev")
    clean_env.setenv("DEMO_API_SECRET", "  ")
    with pytest.raises(ValidationError, match="DEMO_API_SECRET is empty"):
        load()


def test_a_dsn_is_judged_by_its_password(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DEMO_DATABASE_URL", "postgresql://app:changeme@db/app")
    with pytest.raises(ValidationError, match="DEMO_DATABASE_URL is a placeholder") as err:
        load()
    assert "changeme" not in str(err.value).replace("placeholder", "")
    clean_env.setenv("DEMO_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    assert load().database_url.get_secret_value().endswith("/postgres")


def test_is_placeholder_rule() -> None:
    assert is_placeholder("changeme") and is_placeholder("my-changeme-key") and is_placeholder("dev-abc")
    assert not is_placeholder("prod-7f3a9") and not is_placeholder("developer-key-91a")


def test_invalid_values_are_reported_without_their_input(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DEMO_HTTP_PORT", "not-a-port-s3cr3t")
    with pytest.raises(ValidationError) as err:
        load()
    assert "http_port" in str(err.value) and "not-a-port-s3cr3t" not in str(err.value)


def test_load_settings_exits_2_with_a_message(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("DEMO_API_SECRET", "changeme")
    with pytest.raises(SystemExit) as exit_:
        load_settings(DemoSettings)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert (
        "invalid configuration" in err
        and "DEMO_API_SECRET" in err
        and "changeme" not in err.replace("placeholder", "")
    )
