"""categorizer test fixtures: the service in-process against the real broker and database."""

from collections.abc import AsyncIterator

import pytest

from .harness import Categorizer, running_categorizer


@pytest.fixture
async def svc(database_url: str, kafka_bootstrap_servers: str) -> AsyncIterator[Categorizer]:
    async with running_categorizer(database_url, kafka_bootstrap_servers) as service:
        yield service
