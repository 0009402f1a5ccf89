"""CSV imports (POST /v1/imports, GET /v1/imports/{id}) and the worker that carries them out.

POST checks the account and the layout (the header must be found), records the job with the file and
wakes the runner: 202 with the job. The runner works the file in batches of `import_batch_rows` data
lines. A batch is first prepared, read-only: its lines read and given their ids, its duplicates found
(domain.dedup) against what is committed, its events built; the reading and the scoring run on a worker
thread while the previous batch writes, so this process's CPU and PostgreSQL's work overlap. Then it is
written in ONE transaction that locks the job (SKIP LOCKED: one process per job) and checks the job's
progress is where the batch starts: the new rows (`import_rows`), their TransactionChanged events
(outbox, topic bankstream.imported-transactions), the findings (duplicates, bad lines) and the progress.
A crash rolls a batch back whole; the restarted runner resumes after the last committed batch, so every
line is reported once and every new row emitted once. The categorizer enriches the events into
TransactionCategorized, which the projections write to the ledger like Plaid's (ADR 0013).
"""

import asyncio
import hashlib
import itertools
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
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
    try:  # reading a file of up to 20 MiB is this process's CPU only: on a worker thread, as below
        total = await asyncio.to_thread(Reader(layout_named(layout, mapping), body).start)
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
    """One import worked by this process: the file's CSV records split once, its lines read and given
    their ids batch by batch, in file order (an id counts the identical lines before it: the same file
    gives the same ids, whatever the batches), the ledger rows it already took."""

    def __init__(self, job: asyncpg.Record, body: str) -> None:
        self.job = job
        options = orjson.loads(job["options"])
        self.rules = matching.Rules(
            amount_tolerance=Decimal(options["amount_tolerance"]),
            date_window_days=options["date_window_days"],
            min_similarity=options["min_similarity"],
        )
        reader = Reader(layout_named(job["layout"], options["mapping"]), body)
        self.total = reader.start()  # data lines
        self._lines = reader.lines()
        self._read = 0  # data lines read so far
        self._seen: Counter[tuple[Any, ...]] = Counter()  # identical lines met so far (their ids' ranks)
        self.taken: set[str] | None = None  # read at the first batch this process prepares
        self.emitted: set[str] = set()  # ids of the lines this Work made new rows (and events) of

    def take(self, start: int, n: int) -> tuple[list[Row | BadLine], list[str]]:
        """Data lines [start, start + n), and the ids of the Rows among them; lines are read in file order
        (those before `start`, never read yet, are read for their ranks and dropped)."""
        lines: list[Row | BadLine] = []
        for line in itertools.islice(self._lines, start + n - self._read):
            if self._read >= start:
                lines.append(line)
            elif isinstance(line, Row):
                imported.transaction_ids(self.job["account_id"], [line], self._seen)
            self._read += 1
        rows = [x for x in lines if isinstance(x, Row)]
        return lines, imported.transaction_ids(self.job["account_id"], rows, self._seen)


@dataclass
class Batch:
    """A batch worked out ahead of its transaction (read-only until then): its lines from `start`, the
    findings, and the new rows with their events, built before the insert says which ones it took."""

    start: int
    lines: list[Row | BadLine]
    bad: int
    findings: list[tuple[int, str, dict[str, Any]]]
    new: list[tuple[int, str, outbox.EncodedRow]]  # (line, transaction_id, its event)
    rows: list[tuple[str, int, str | None, date, Decimal, str]]  # what import_rows gets

    @property
    def end(self) -> int:
        return self.start + len(self.lines)


async def prepare(deps: Deps, work: Work, start: int) -> Batch | None:
    """The batch from `start` (None past the end): its duplicates found against what is committed now
    (its own connection, no lock), `work.taken` updated with them. Runs while the previous batch writes."""
    if start >= work.total:
        return None
    job = work.job
    import_id = job["import_id"]
    # reading the lines (dates, amounts, ids) is this process's CPU only: on a worker thread, as below
    lines, ids = await asyncio.to_thread(work.take, start, deps.settings.import_batch_rows)
    rows = [x for x in lines if isinstance(x, Row)]
    bad = [x for x in lines if isinstance(x, BadLine)]
    async with deps.pool.acquire() as conn:
        if work.taken is None:
            work.taken = await store.taken(conn, import_id)
        candidates = await store.candidates(
            conn,
            import_id,
            job["account_id"],
            [(tid, r.imported_id, r.day, r.amount) for tid, r in zip(ids, rows, strict=True)],
            work.rules.amount_tolerance,
            work.rules.date_window_days,
        )
    # the scoring and the events are this process's CPU only: on a worker thread, so that the batch
    # writing meanwhile goes on (its statements answered and the next sent between two time slices)
    return await asyncio.to_thread(_decide, deps, work, start, lines, rows, bad, ids, candidates)


def _decide(
    deps: Deps,
    work: Work,
    start: int,
    lines: list[Row | BadLine],
    rows: list[Row],
    bad: list[BadLine],
    ids: list[str],
    candidates: list[asyncpg.Record],
) -> Batch:
    job = work.job
    import_id = job["import_id"]
    assert work.taken is not None
    # A line whose id an earlier line of this file got as a new row (the same bank id twice) repeats it,
    # whether that line's batch has committed yet or not: matched to nothing, reported as such.
    repeats = {i for i, tid in enumerate(ids) if tid in work.emitted}
    candidates = [c for c in candidates if c["k"] not in repeats]
    duplicates, by_id = find_duplicates(rows, candidates, work.taken, work.rules)
    findings: list[tuple[int, str, dict[str, Any]]] = [
        (b.line, "bad", {"reason": b.reason, "text": b.text}) for b in bad
    ]
    for d in duplicates:
        findings.append((rows[d.row].line, "duplicate", d.detail(by_id[d.of])))
        work.taken.add(d.of)
    dup_index = {d.row for d in duplicates}
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    topic = deps.topic(imported.TOPIC_IMPORTED)
    position = {line.line: start + n for n, line in enumerate(lines)}
    new: list[tuple[int, str, outbox.EncodedRow]] = []
    for i, r in enumerate(rows):
        if i in dup_index:
            continue
        if ids[i] in work.emitted:  # an earlier batch's line, or this one's, with the same bank id
            findings.append((r.line, "duplicate", {"transaction_id": ids[i], "how": "same_id"}))
            dup_index.add(i)
            continue
        work.emitted.add(ids[i])
        data = imported.changed_data(
            r,
            ids[i],
            account_id=job["account_id"],
            item_id=job["item_id"],
            currency=job["iso_currency_code"],
            import_id=str(import_id),
            position=position[r.line],
        )
        event_id = uuid.uuid4()
        event = imported.envelope_json(event_id, data, now)
        new.append(
            (r.line, ids[i], (event_id, topic, job["account_id"], imported.TRANSACTION_CHANGED, event))
        )
    return Batch(
        start=start,
        lines=lines,
        bad=len(bad),
        findings=findings,
        new=new,
        rows=[
            (ids[i], r.line, r.imported_id, r.day, r.amount, r.description)
            for i, r in enumerate(rows)
            if i not in dup_index
        ],
    )


async def write(deps: Deps, work: Work, batch: Batch) -> bool:
    """The batch in ONE transaction under the job's lock: its rows, events, findings and progress.
    False, writing nothing, when the job is not this process's to work from `batch.start` now (done,
    failed, held by another process, or moved on by one)."""
    started = time.perf_counter()
    async with deps.pool.acquire() as conn, conn.transaction():
        job = await store.claim(conn, work.job["import_id"])
        if job is None or job["processed"] != batch.start:
            return False
        import_id = job["import_id"]
        written = await store.insert_rows(conn, import_id, job["account_id"], batch.rows)
        findings = list(batch.findings)
        events: list[outbox.EncodedRow] = []
        for line, tid, event in batch.new:
            if tid not in written:  # another import wrote this id first (the same file twice at once)
                findings.append((line, "duplicate", {"transaction_id": tid, "how": "same_id"}))
                continue
            events.append(event)
        await outbox.enqueue_encoded(conn, events)
        await store.add_findings(conn, import_id, findings)
        done = batch.end >= work.total
        n_dup = len(findings) - batch.bad
        await store.advance(
            conn,
            import_id,
            processed=len(batch.lines),
            imported=len(events),
            duplicates=n_dup,
            bad=batch.bad,
            done=done,
        )
    m = deps.metrics
    m.import_rows.labels("imported").inc(len(events))
    m.import_rows.labels("duplicate").inc(n_dup)
    m.import_rows.labels("bad").inc(batch.bad)
    m.import_batch.observe(time.perf_counter() - started)
    if done:
        m.imports.labels("succeeded").inc()
        log.info("import done", import_id=str(import_id))
    return True


async def run_import(deps: Deps, import_id: uuid.UUID, stopping: asyncio.Event | None = None) -> None:
    """Batch after batch, each one's duplicates found and events built while the one before it writes
    (a second connection: the two overlap, PostgreSQL's work and this process's). Ends when the file is
    done, when stopping, or when a batch cannot be written (the job is not this process's to work now:
    the runner's next pass resumes it from its committed progress, with `taken` read again)."""
    job = await store.get_job(deps.pool, import_id)
    body = await store.body_of(deps.pool, import_id)
    if job is None or body is None or job["state"] != "running":
        return
    work = await asyncio.to_thread(Work, job, body)  # the file's CSV split: off the event loop, as below
    batch = await prepare(deps, work, job["processed"])
    if batch is None:  # no data line left to read (a file of none): the job still ends, by a write
        batch = Batch(start=job["processed"], lines=[], bad=0, findings=[], new=[], rows=[])
    while batch is not None and not (stopping and stopping.is_set()):
        writing = asyncio.create_task(write(deps, work, batch))
        try:
            following = await prepare(deps, work, batch.end)
        finally:
            written = await writing  # never left running: a failed prepare waits for it
        if not written:
            return
        batch = following


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
