"""Corrections: a user's CategoryOverridden is recorded (a rule or a lesson never overwrites it) and
learned from: per user and merchant key, the same category in 3 of the last 5 corrections is learned
(domain.learning); when what is learned changes, a job re-categorizes that key's transactions."""

import asyncpg
import structlog
from bankstream_common.envelope import Envelope
from bankstream_common.errors import PermanentError

from ..adapters import knowledge, store
from ..domain import events as ev
from ..domain import learning, taxonomy
from . import jobs
from .context import Deps

log = structlog.get_logger(__name__)


async def on_category_overridden(deps: Deps, conn: asyncpg.Connection, event: Envelope) -> None:
    data = ev.CategoryOverriddenIn.model_validate(event.data)
    if data.category is None:
        await knowledge.clear_override(conn, data.transaction_id, data.overridden_at)
        return
    detailed = data.category.detailed
    if not taxonomy.is_valid(detailed) or taxonomy.primary_of(detailed) != data.category.primary:
        raise PermanentError(f"{data.category.primary}/{detailed} is not a PFC v2 category")
    await knowledge.record_override(
        conn,
        transaction_id=data.transaction_id,
        user_id=data.user_id,
        primary=data.category.primary,
        detailed=detailed,
        overridden_at=data.overridden_at,
        event_id=event.id,
    )
    key = learning.merchant_key(data.merchant_name, data.name or data.original_description)
    if key is None:
        return
    recent = await knowledge.add_correction(
        conn,
        user_id=data.user_id,
        merchant_key=key,
        detailed=detailed,
        transaction_id=data.transaction_id,
        overridden_at=data.overridden_at,
        event_id=event.id,
        window=learning.WINDOW,
    )
    if not await knowledge.set_learned(conn, data.user_id, key, learning.learned_from(recent)):
        return
    await store.bump_context(conn, data.user_id)
    job = await jobs.start_job(
        deps, conn, user_id=data.user_id, merchant_key=key, reason="learned", caused_by=str(event.id)
    )
    log.info("learned from corrections", job_id=str(job.job_id))
