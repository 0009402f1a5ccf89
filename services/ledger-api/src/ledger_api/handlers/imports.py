"""CSV imports (POST /v1/imports, GET /v1/imports/{id}) and the worker that carries them out.

POST checks the account and the layout (the header must be found), records the job with the file and
wakes the runner: 202 with the job. The runner works the file in batches of `import_batch_rows` data
lines; each batch is ONE transaction that locks the job (SKIP LOCKED: one process per job), finds the
batch's duplicates (domain.dedup), records the new rows (`import_rows`), their TransactionChanged events
(outbox, topic bankstream.imported-transactions), the findings (duplicates, bad lines) and the progress.
A crash rolls a batch back whole; the restarted runner resumes after the last committed batch, so every
line is reported once and every new row emitted once. The categorizer enriches the events into
TransactionCategorized, which the projections write to the ledger like Plaid's (ADR 0013).
"""

import asyncio
import hashlib
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
import structlog
from bankstream_common import outbox
from bankstream_common.auth import Principal
from bankstream_common.kafka.consumer import INFRASTRUCTURE_ERRORS

from ..adapters import import_store as store
from ..domain import imported, matching
from ..domain.csv_layouts import BadLine, LayoutError, Reader, Row, layout_named
from ..domain.dedup import find_duplicates
from ..domain.errors import AccountNotFound, ImportNotFound, InvalidQuery
from .context import READ, WRITE, Deps, acting_user

log = structlog.get_logger(__name__)

# PostgreSQL away, or a conflict worth trying again: the batch is retried later. Anything else fails the
# import alone (a bug, never the file: a bad line is a finding), so it is not retried forever.
TRANSIENT = (*INFRASTRUCTURE_ERRORS, TimeoutError, asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
REPORT_LIMIT = 1000  # findings listed by GET /v1/imports/{id} (all are counted)


async def start(
    deps: Deps,
    who: Principal,
    user_id: str | None,
    *,
    account_id: str,
    layout: str,
    mapping: dict[str, Any] | None,
    rules: matching.Rules,
    body: str,
) -> dict[str, Any]:
    user = acting_user(who, WRITE, user_id)
    account = await store.account(deps.pool, user, account_id)
    if account is None:
        raise AccountNotFound(account_id)
    try:
        reader = Reader(layout_named(layout, mapping), body)
        total = reader.start()
    except LayoutError as exc:
        raise InvalidQuery("mapping" if mapping else "csv", str(exc)) from None
    options = {
        "mapping": mapping,
        "amount_tolerance": str(rules.amount_tolerance),
        "date_window_days": rules.date_window_days,
        "min_similarity": rules.min_similarity,
    }
    async with deps.pool.acquire() as conn, conn.transaction():
        job = await store.insert_job(
            conn,
            user_id=user,
            account=account,
            layout=layout,
            options=options,
            file_sha256=hashlib.sha256(body.encode()).hexdigest(),
            body=body,
            total=total,
        )
    deps.metrics.imports.labels("started").inc()
    deps.imports_wakeup.set()
    log.info("import started", import_id=str(job["import_id"]), total=total, layout=layout)
    return view(job, [])


async def get(deps: Deps, who: Principal, user_id: str | None, import_id: str) -> dict[str, Any]:
    user = acting_user(who, READ, user_id)
    try:
        key = uuid.UUID(import_id)
    except ValueError:
        raise ImportNotFound(import_id) from None
    job = await store.get_job(deps.pool, key)
    if job is None or job["user_id"] != user:
        raise ImportNotFound(import_id)
    return view(job, await store.findings(deps.pool, key, REPORT_LIMIT))


def view(job: asyncpg.Record, findings: list[asyncpg.Record]) -> dict[str, Any]:
    counted = job["duplicates"] + job["bad"]
    return {
        "import_id": str(job["import_id"]),
        "account_id": job["account_id"],
        "layout": job["layout"],
        "state": job["state"],
        "error": job["error"],
        "file_sha256": job["file_sha256"],
        "progress": {
            "total": job["total"],
            "processed": job["processed"],
            "fraction": round(job["processed"] / job["total"], 4) if job["total"] else 1.0,
        },
        "report": {
            "imported": job["imported"],
            "duplicates": job["duplicates"],
            "bad_lines": job["bad"],
            "findings": [
                {"line": f["line"], "kind": f["kind"], **orjson.loads(f["detail"])} for f in findings
            ],
            "findings_truncated": counted > len(findings),
        },
        "created_at": job["created_at"],
        "finished_at": job["finished_at"],
    }


class Work:
    """One import worked by this process: the file read once, each line's id computed over the whole
    file (identical lines are told apart by their rank), the ledger rows it already took."""

    def __init__(self, job: asyncpg.Record, body: str) -> None:
        self.job = job
        options = orjson.loads(job["options"])
        self.rules = matching.Rules(
            amount_tolerance=Decimal(options["amount_tolerance"]),
            date_window_days=options["date_window_days"],
            min_similarity=options["min_similarity"],
        )
        reader = Reader(layout_named(job["layout"], options["mapping"]), body)
        reader.start()
        self.lines = list(reader.lines())
        good = [x for x in self.lines if isinstance(x, Row)]
        self.ids = dict(
            zip((r.line for r in good), imported.transaction_ids(job["account_id"], good), strict=True)
        )
        self.taken: set[str] | None = None
        self.upto = 0  # the progress this process last committed


async def run_batch(deps: Deps, work: Work) -> bool:
    """One batch of the import; True when more remain (False: done, or held by another process)."""
    started = time.perf_counter()
    async with deps.pool.acquire() as conn, conn.transaction():
        job = await store.claim(conn, work.job["import_id"])
        if job is None:
            return False
        import_id = job["import_id"]
        start = job["processed"]
        if work.taken is None or work.upto != start:  # first batch here, or another process did some
            work.taken = await store.taken(conn, import_id)
        lines = work.lines[start : start + deps.settings.import_batch_rows]
        rows = [x for x in lines if isinstance(x, Row)]
        bad = [x for x in lines if isinstance(x, BadLine)]
        ids = [work.ids[r.line] for r in rows]
        candidates = await store.candidates(
            conn,
            import_id,
            job["account_id"],
            [(tid, r.imported_id, r.day, r.amount) for tid, r in zip(ids, rows, strict=True)],
            work.rules.amount_tolerance,
            work.rules.date_window_days,
        )
        duplicates, by_id = find_duplicates(rows, candidates, work.taken, work.rules)
        dup_index = {d.index for d in duplicates}
        new = [(i, r) for i, r in enumerate(rows) if i not in dup_index]
        written = await store.insert_rows(
            conn,
            import_id,
            job["account_id"],
            [(ids[i], r.line, r.imported_id, r.day, r.amount, r.description) for i, r in new],
        )
        findings: list[tuple[int, str, dict[str, Any]]] = [
            (b.line, "bad", {"reason": b.reason, "text": b.text}) for b in bad
        ]
        for d in duplicates:
            findings.append((rows[d.index].line, "duplicate", d.detail(by_id[d.of])))
            work.taken.add(d.of)
        events: list[outbox.EncodedRow] = []
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        topic = deps.topic(imported.TOPIC_IMPORTED)
        position = {line.line: start + n for n, line in enumerate(lines)}
        for i, r in new:
            tid = ids[i]
            if tid not in written:  # the same line twice in one file with one bank id: the first counts
                findings.append((r.line, "duplicate", {"transaction_id": tid, "how": "same_id"}))
                continue
            data = imported.changed_data(
                r,
                tid,
                account_id=job["account_id"],
                item_id=job["item_id"],
                currency=job["iso_currency_code"],
                import_id=str(import_id),
                position=position[r.line],
            )
            event_id = uuid.uuid4()
            events.append(
                (
                    event_id,
                    topic,
                    job["account_id"],
                    imported.TRANSACTION_CHANGED,
                    imported.envelope_json(event_id, data, now),
                )
            )
        await outbox.enqueue_encoded(conn, events)
        await store.add_findings(conn, import_id, findings)
        done = start + len(lines) >= len(work.lines)
        n_dup = len(findings) - len(bad)
        await store.advance(
            conn,
            import_id,
            processed=len(lines),
            imported=len(events),
            duplicates=n_dup,
            bad=len(bad),
            done=done,
        )
    work.upto = start + len(lines)  # committed
    m = deps.metrics
    m.import_rows.labels("imported").inc(len(events))
    m.import_rows.labels("duplicate").inc(n_dup)
    m.import_rows.labels("bad").inc(len(bad))
    m.import_batch.observe(time.perf_counter() - started)
    if done:
        m.imports.labels("succeeded").inc()
        log.info("import done", import_id=str(import_id))
    return not done


async def run_import(deps: Deps, import_id: uuid.UUID, stopping: asyncio.Event | None = None) -> None:
    job = await store.get_job(deps.pool, import_id)
    body = await store.body_of(deps.pool, import_id)
    if job is None or body is None or job["state"] != "running":
        return
    work = Work(job, body)
    more = True
    while more and not (stopping and stopping.is_set()):
        more = await run_batch(deps, work)


class ImportRunner:
    """The worker that carries out unfinished imports, oldest first: woken when one starts, polling
    otherwise (which also resumes, after a restart, the imports a crash interrupted)."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()
        self._deps.imports_wakeup.set()

    async def _run_one(self, import_id: uuid.UUID) -> None:
        """Transient failures propagate (retried later); any other one fails this import alone."""
        try:
            await run_import(self._deps, import_id, self._stopping)
        except TRANSIENT:
            raise
        except Exception as exc:
            log.exception("import failed", import_id=str(import_id))
            await store.fail(self._deps.pool, import_id, f"{type(exc).__name__}: {exc}")
            self._deps.metrics.imports.labels("failed").inc()

    async def run(self) -> None:
        deps = self._deps
        while not self._stopping.is_set():
            deps.imports_wakeup.clear()
            try:
                for import_id in await store.running(deps.pool):
                    await self._run_one(import_id)
            except TRANSIENT as exc:
                log.warning("import batch failed, retrying later", error=type(exc).__name__)
            except Exception:
                log.exception("import batch failed, retrying later")
            if self._stopping.is_set():
                return
            if deps.imports_wakeup.is_set():
                continue
            wake = asyncio.create_task(deps.imports_wakeup.wait())
            try:
                await asyncio.wait({wake}, timeout=deps.settings.import_poll_seconds)
            finally:
                wake.cancel()
