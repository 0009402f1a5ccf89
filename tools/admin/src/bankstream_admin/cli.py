"""`bankstream`: the operator's commands, under one roof.

    bankstream items [--status S] [--all]                      Items and their health (link-svc + sync-worker)
    bankstream items resync ITEM [--from-scratch] [--dry-run]  ask the sync-worker for a run (SyncRequested),
                                                               from the Item's cursor or from scratch
    bankstream dlq inspect TOPIC.dlq [--reason R] [--type T]   dead letters, chosen by reason or event type
    bankstream dlq replay TOPIC.dlq [--reason R] [--type T] [--dry-run]
                                                               back to their original topic (idempotent:
                                                               consumers apply an event id once)
    bankstream vault status | rotate [--dry-run]               link-svc's token vault (its vault_cli)
    bankstream ledger rebuild [--fresh]                        the ledger's projections again, from the
                                                               topics, into <schema>_rebuild (online)
    bankstream ledger swap [--dry-run] [--accept-gaps]         the live ledger corrected from the rebuild,
                                                               in place (the ledger-api stopped)

Every listing takes `--json` (one JSON document on stdout, for scripts); long work shows a progress bar
on stderr. Connections come from DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS (or --database-url, --kafka).
Exit codes: 0 done, 1 something to look at (an unhealthy Item, a record that could not be replayed),
2 a usage or connection error.
"""

import asyncio
import dataclasses
import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import asyncpg
import click
import ledger_api.handlers.rebuild as rebuilding
from bankstream_common.logging import configure_logging
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from . import dlq as dead_letters
from . import items as item_health
from . import resync as resyncing

T = TypeVar("T")
out = Console(width=None if sys.stdout.isatty() else 200)  # piped: wide rows, not squeezed to 80 columns
err = Console(stderr=True)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except (OSError, LookupError, asyncpg.PostgresError) as exc:  # e.g. a schema that is not there
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
    except rebuilding.Refused as exc:
        err.print(f"[red]refused:[/red] {exc}")
        sys.exit(1)


def _json(document: object) -> None:
    click.echo(json.dumps(document, indent=2, default=str))


@click.group(help=__doc__.split("\n\n")[0])
def main() -> None:
    # What the commands' libraries log (warnings and worse) goes to stderr: stdout is the answer (--json)
    configure_logging("bankstream", "WARNING", json=False, stream=sys.stderr)


# -- items ---------------------------------------------------------------------------------------------


DATABASE = click.option("--database-url", envvar="DATABASE_URL", help="PostgreSQL (DATABASE_URL)")
LINK_SCHEMA = click.option("--link-schema", default="link_svc", show_default=True)
SYNC_SCHEMA = click.option("--sync-schema", default="sync_worker", show_default=True)


@main.group(
    help="List Items with their status, last sync and health; `items resync ITEM` asks for a sync.",
    invoke_without_command=True,
)
@DATABASE
@click.option("--status", default=None, help="only Items in this link-svc status (e.g. login_required)")
@click.option("--all", "include_removed", is_flag=True, help="include removed Items")
@LINK_SCHEMA
@SYNC_SCHEMA
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts")
@click.pass_context
def items(
    ctx: click.Context,
    database_url: str | None,
    status: str | None,
    include_removed: bool,
    link_schema: str,
    sync_schema: str,
    as_json: bool,
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    if not database_url:
        raise click.UsageError("Missing option '--database-url' (or DATABASE_URL).")
    found = _run(
        item_health.list_items(
            database_url,
            link_schema=link_schema,
            sync_schema=sync_schema,
            status=status,
            include_removed=include_removed,
        )
    )
    if as_json:
        _json([i.as_json() for i in found])
    else:
        table = Table("item", "status", "since", "sync", "last synced", "last error", "health")
        for i in found:
            table.add_row(
                i.item_id,
                i.status + (f" ({i.status_code})" if i.status_code else ""),
                f"{i.status_since:%Y-%m-%d %H:%M}",
                i.sync_status or "-",
                f"{i.last_synced_at:%Y-%m-%d %H:%M}" if i.last_synced_at else "never",
                i.last_error_code or "",
                i.health,
            )
        out.print(table)
    sys.exit(0 if all(i.health in ("ok", "syncing", "removed") for i in found) else 1)


@items.command(help="Ask the sync-worker to sync an Item now: from its cursor, or --from-scratch.")
@click.argument("item_id")
@click.option(
    "--from-scratch",
    is_flag=True,
    help="forget the Item's cursor: page Plaid's /transactions/sync from the start (the whole history "
    "again, as newer versions of the same transactions)",
)
@click.option("--dry-run", is_flag=True, help="say what would be asked, send nothing")
@DATABASE
@click.option("--kafka", envvar="KAFKA_BOOTSTRAP_SERVERS", help="KAFKA_BOOTSTRAP_SERVERS")
@LINK_SCHEMA
@SYNC_SCHEMA
@click.option("--topic", default=resyncing.SYNC_REQUESTS_TOPIC, show_default=True, hidden=True)
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts")
def resync(
    item_id: str,
    from_scratch: bool,
    dry_run: bool,
    database_url: str | None,
    kafka: str | None,
    link_schema: str,
    sync_schema: str,
    topic: str,
    as_json: bool,
) -> None:
    if not database_url:
        raise click.UsageError("Missing option '--database-url' (or DATABASE_URL).")
    if not dry_run and not kafka:
        raise click.UsageError("Missing option '--kafka' (or KAFKA_BOOTSTRAP_SERVERS).")
    try:
        request = _run(
            resyncing.plan(
                database_url,
                item_id,
                from_scratch=from_scratch,
                link_schema=link_schema,
                sync_schema=sync_schema,
                topic=topic,
            )
        )
    except ValueError as exc:
        err.print(f"[red]refused:[/red] {exc}")
        sys.exit(1)
    if not dry_run:
        _run(resyncing.send(str(kafka), request))
    if as_json:
        _json({"dry_run": dry_run, **request.as_json(sent=not dry_run)})
        return
    what = "from scratch (cursor forgotten, the whole history again)" if from_scratch else "from its cursor"
    verb = "would ask" if dry_run else "asked"
    out.print(f"{verb} for a sync of {item_id} {what}: SyncRequested {request.event.id} on {topic}")
    if from_scratch and not request.has_cursor:
        out.print("  the Item has no cursor yet: its next run pages from the start anyway")
    if request.note:
        out.print(f"  note: {request.note}")


# -- dead letters --------------------------------------------------------------------------------------


@main.group(help="Dead-letter topics: inspect and replay.")
def dlq() -> None:
    pass


def _chosen(
    kafka: str, topic: str, reason: str | None, event_type: str | None
) -> list[dead_letters.DeadLetter]:
    letters = _run(dead_letters.read_dead_letters(kafka, topic))
    return [d for d in letters if d.matches(reason=reason, event_type=event_type)]


KAFKA = click.option(
    "--kafka", envvar="KAFKA_BOOTSTRAP_SERVERS", required=True, help="KAFKA_BOOTSTRAP_SERVERS"
)
REASON = click.option("--reason", default=None, help="only records whose dlq.reason contains this")
TYPE = click.option("--type", "event_type", default=None, help="only records of this event type")
JSON = click.option("--json", "as_json", is_flag=True, help="JSON for scripts")


@dlq.command(help="List the dead letters a DLQ topic holds.")
@click.argument("topic")
@KAFKA
@REASON
@TYPE
@JSON
def inspect(topic: str, kafka: str, reason: str | None, event_type: str | None, as_json: bool) -> None:
    chosen = _chosen(kafka, topic, reason, event_type)
    if as_json:
        _json([d.summary() for d in chosen])
        return
    table = Table("offset", "type", "event id", "from", "consumer", "reason")
    for d in chosen:
        source = f"{d.original_topic}/{d.original_partition}@{d.original_offset}"
        table.add_row(str(d.offset), d.event_type, d.event_id, source, d.consumer, d.reason[:80])
    out.print(table)
    out.print(f"{len(chosen)} dead letters in {topic}")


@dlq.command(help="Produce chosen dead letters back to their original topic.")
@click.argument("topic")
@KAFKA
@REASON
@TYPE
@click.option("--dry-run", is_flag=True, help="say what would be replayed, send nothing")
@JSON
def replay(
    topic: str, kafka: str, reason: str | None, event_type: str | None, dry_run: bool, as_json: bool
) -> None:
    chosen = _chosen(kafka, topic, reason, event_type)
    with Progress(console=err, transient=True, disable=dry_run or as_json) as progress:
        task = progress.add_task(f"replaying {topic}", total=len(chosen))
        report = _run(
            dead_letters.replay(kafka, chosen, dry_run=dry_run, on_sent=lambda _: progress.advance(task))
        )
    summary = {
        "topic": topic,
        "dry_run": dry_run,
        "replayed": [d.summary() for d in report.replayed],
        "not_replayable": [d.summary() for d in report.skipped_stripped],
    }
    if as_json:
        _json(summary)
    else:
        verb = "would replay" if dry_run else "replayed"
        out.print(f"{verb} {len(report.replayed)} of {len(chosen)} chosen dead letters from {topic}")
        for d in report.skipped_stripped:
            out.print(
                f"  offset {d.offset}: value stripped; read it at "
                f"{d.original_topic}/{d.original_partition}@{d.original_offset}"
            )
    sys.exit(1 if report.skipped_stripped else 0)


# -- vault ---------------------------------------------------------------------------------------------


@main.group(help="link-svc's token vault (runs `python -m link_svc.entrypoints.vault_cli` with your env).")
def vault() -> None:
    pass


def _vault_cli(*args: str) -> int:
    command = [sys.executable, "-m", "link_svc.entrypoints.vault_cli", *args]
    return subprocess.run(command, env=os.environ.copy(), check=False).returncode


@vault.command(help="Access tokens per key id, and whether every key is configured.")
def status() -> None:
    sys.exit(_vault_cli("status"))


@vault.command(help="Re-encrypt every access token onto the active key id (LINK_SVC_VAULT_ACTIVE_KEY_ID).")
@click.option("--batch-size", default=200, show_default=True)
@click.option("--dry-run", is_flag=True, help="show the tokens per key id that a rotation would move")
def rotate(batch_size: int, dry_run: bool) -> None:
    if dry_run:
        err.print("dry run: access tokens per key id now (rotate moves every one onto the active key id)")
        sys.exit(_vault_cli("status"))
    sys.exit(_vault_cli("rotate", "--batch-size", str(batch_size)))


# -- ledger --------------------------------------------------------------------------------------------


@main.group(
    help="The ledger rebuilt from its topics into a fresh schema, and the live one corrected from it."
)
def ledger() -> None:
    pass


def _ledger_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options naming the live ledger, handed to `command` as one `where` (and --json as `as_json`)."""

    @functools.wraps(command)
    def named(
        database_url: str | None, kafka: str | None, schema: str, group: str, prefix: str, **rest: Any
    ) -> None:
        if not database_url:
            raise click.UsageError("Missing option '--database-url' (or DATABASE_URL).")
        if not kafka:
            raise click.UsageError("Missing option '--kafka' (or KAFKA_BOOTSTRAP_SERVERS).")
        where = rebuilding.Ledger(database_url, kafka, schema=schema, group=group, topic_prefix=prefix)
        command(where=where, **rest)

    options = [
        DATABASE,
        click.option("--kafka", envvar="KAFKA_BOOTSTRAP_SERVERS", help="KAFKA_BOOTSTRAP_SERVERS"),
        click.option("--schema", default="ledger_api", show_default=True, help="the live ledger's schema"),
        click.option("--group", default="ledger-api", show_default=True, help="its consumer group"),
        click.option("--topic-prefix", "prefix", default="", hidden=True),
        JSON,
    ]
    decorated: Callable[..., None] = named
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


def _long(
    label: str, as_json: bool, work: Callable[[rebuilding.Progress], Coroutine[Any, Any, T]]
) -> T | None:
    """Run `work` with a progress bar on stderr; with --json, print its report and return None."""
    with Progress(console=err, transient=True, disable=as_json) as progress:
        task = progress.add_task(label, total=None)
        report = _run(work(lambda done, total: progress.update(task, completed=done, total=total)))
    if as_json:
        _json(dataclasses.asdict(report))  # type: ignore[call-overload]
        return None
    return report


def _rebuild_lines(report: rebuilding.RebuildReport) -> list[str]:
    lines = [
        f"{'resumed' if report.resumed else 'began'} {report.schema} "
        f"(consumer group {report.consumer_group}):"
        f" {report.events} events projected; rows: " + ", ".join(f"{t} {n}" for t, n in report.rows.items())
    ]
    if report.dead_lettered:
        lines.append(
            f"  {report.dead_lettered} events refused: in their topics' .dlq "
            f"(consumer {report.consumer_group})"
        )
    for gap in report.gaps:
        kept = (
            "forever"
            if gap.retention.retention_ms < 0
            else f"{gap.retention.retention_ms / 86_400_000:g} days"
        )
        lines.append(
            f"  {gap.topic}: its first {gap.deleted} events are gone (retention {kept}, cleanup "
            f"{gap.retention.cleanup_policy}); `ledger swap --accept-gaps` keeps what only they told from "
            "the live rows"
        )
    return lines


@ledger.command(
    help="Project every event of the ledger's topics again, from their first offsets, into <schema>_rebuild, "
    "up to where the topics end now. The live ledger keeps serving. Run it again to go on (it resumes)."
)
@_ledger_options
@click.option("--fresh", is_flag=True, help="drop an unfinished rebuild and begin again")
def rebuild(where: rebuilding.Ledger, as_json: bool, fresh: bool) -> None:
    report = _long(
        f"rebuilding {where.target}",
        as_json,
        lambda on: rebuilding.rebuild(where, fresh=fresh, on_progress=on),
    )
    if report is None:
        return
    for line in _rebuild_lines(report):
        out.print(line)
    out.print("next: stop the ledger-api, then `bankstream ledger swap` (`--dry-run` first)")


@ledger.command(
    help="Correct the live ledger from <schema>_rebuild, in place, in one PostgreSQL transaction (user "
    "edits and the tables no topic holds untouched; <schema>_rebuild is then kept as "
    "<schema>_rebuilt_<time>, with what the swap replaced). The ledger-api must be stopped (every "
    "replica): the rebuild catches up first, and the live consumer group then goes on from where it stopped."
)
@_ledger_options
@click.option("--dry-run", is_flag=True, help="say what the swap would do now, change nothing")
@click.option(
    "--accept-gaps",
    is_flag=True,
    help="swap although retention deleted events: what only they told is kept from the live rows",
)
def swap(where: rebuilding.Ledger, as_json: bool, dry_run: bool, accept_gaps: bool) -> None:
    if dry_run:
        state = _run(rebuilding.status(where))
        if as_json:
            _json(dataclasses.asdict(state))
        else:
            out.print(
                f"{state.schema} (group {state.consumer_group}): {state.behind_live} events behind the live "
                f"ledger, {state.behind_end} behind the topics' ends"
            )
            for table, n in state.rows.items():
                out.print(f"  {table}: {n} rebuilt, {state.live_rows[table]} live")
            for gap in state.gaps:
                out.print(
                    f"  {gap.topic}: its first {gap.deleted} events are gone (a swap needs --accept-gaps)"
                )
            out.print(f"would refuse: {state.refusal}" if state.refusal else "a swap now would go ahead")
        sys.exit(1 if state.refusal else 0)
    report = _long(
        f"catching up {where.target}",
        as_json,
        lambda on: rebuilding.swap(where, accept_gaps=accept_gaps, on_progress=on),
    )
    if report is None:
        return
    for line in _rebuild_lines(report.rebuild):
        out.print(line)
    s = report.swap
    out.print(
        f"swapped: {where.schema} corrected from the rebuild, kept as {s.kept_as} (with what it replaced)"
    )
    out.print("  rows corrected: " + _counts(s.changed))
    out.print("  rows added (the live ledger lacked them): " + _counts(s.added))
    out.print(
        "  rows only the live ledger has, kept (their events are gone, or a past bug): "
        + _counts(s.only_live)
    )
    out.print("  `rebuilt` change-feed entries: " + _counts(s.rebuilt_changes))
    out.print(
        f"  user edits: on {s.edits_kept} transactions, untouched; carried to {s.edits_carried} posted rows"
    )
    out.print(f"  consumer group {where.group} moved forward on {report.offsets_moved} partitions")
    if report.offsets_note:
        out.print(f"  note: {report.offsets_note}")
    out.print(f"start the ledger-api again; once the ledger is trusted: DROP SCHEMA {s.kept_as} CASCADE")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


if __name__ == "__main__":
    main()
