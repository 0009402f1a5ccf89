"""`ledger-api`: build settings and logging once, wire the service, serve until SIGTERM."""

from bankstream_common.logging import configure_logging
from bankstream_common.runtime import Service, run_service
from bankstream_common.settings import load_settings

from ..bootstrap import bootstrap
from ..config import Settings


def main() -> None:
    settings = load_settings(Settings)
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)

    async def build() -> Service:
        return (await bootstrap(settings)).service()

    run_service(build)


if __name__ == "__main__":
    main()
