"""What every handler is given (`Deps`, built by bootstrap) and the steps they share."""

import asyncio
from dataclasses import dataclass, field

import asyncpg
from bankstream_common.auth import Principal

from ..config import Settings
from ..domain.categories import Taxonomy
from ..metrics import Metrics

READ = "ledger:read"
WRITE = "ledger:write"


@dataclass
class Deps:
    settings: Settings
    pool: asyncpg.Pool
    metrics: Metrics
    taxonomy: Taxonomy
    topic_prefix: str = ""
    # set when the process stops: open SSE streams end at once (see bootstrap.Streams)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    open_streams: int = 0
    # set when an import is recorded: the ImportRunner starts on it at once (handlers.imports)
    imports_wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def topic(self, name: str) -> str:
        return self.topic_prefix + name


def acting_user(who: Principal, scope: str, user_id: str | None) -> str:
    """The user whose ledger a call reads or edits: the token's own user; a service token names one."""
    who.require(scope)
    return who.acting_user(user_id)
