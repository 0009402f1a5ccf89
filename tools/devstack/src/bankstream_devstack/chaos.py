"""`make chaos`: the whole stack under faults, then the ledger checked against the truth.

On a Kafka broker and a PostgreSQL server of its own (a temporary directory, free ports unless given:
never the shared ones, since it restarts them), the emulator and the four services run as `make run` starts
them. Items holding `--transactions` between them are linked through link-svc; while they backfill and the
bank keeps changing (simulated hours and days, refreshes), each round SIGKILLs one service at a random
moment and starts it again, and the emulator throws 5xx bursts, latency, 429s and INSTITUTION_DOWN. Once
mid-stream the broker restarts, once PostgreSQL (fast shutdown, then start). A process that exits by itself
is started again, as an orchestrator would, and counted. Then quiescence: faults cleared, and the run
waits until the ledger equals the emulator's ground truth (0 lost, 0 duplicated, 0 mismatched), checks that
every dead-letter topic holds only the poison it injected, and that no outbox row is left unpublished.

    python -m bankstream_devstack.chaos --seed 7 --transactions 100000 --rounds 60 --max-seconds 1800

Seeded: the same seed gives the same plan (sizes, kills, faults, changes); the moments depend on the
machine. Bounded: `--rounds` and `--max-seconds`, then `--converge-timeout` for quiescence.
"""

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import processes
from .chaos_checks import inject_poison, read_dead_letters, wait_outbox_empty
from .client import StackUser
from .harness import SERVICES, RunningStack, running_services
from .stack import Stack

EMULATOR_FAULTS = (
    ("5xx burst", {"error_code": "INTERNAL_SERVER_ERROR", "endpoint": "/transactions/sync", "count": 6}),
    ("latency", {"endpoint": "/transactions/sync", "latency_ms": 1500, "count": 8}),
    ("429", {"error_code": "TRANSACTIONS_SYNC_LIMIT", "endpoint": "/transactions/sync", "count": 4}),
    ("INSTITUTION_DOWN", {"error_code": "INSTITUTION_DOWN", "count": 5}),
)


@dataclass(frozen=True)
class ChaosPlan:
    seed: int = 1
    transactions: int = 100_000
    items: int = 4
    rounds: int = 60  # SIGKILLs, spread over the four services
    max_seconds: float = 1800.0
    converge_timeout: float = 900.0
    rate_limits: bool = False
    kafka_port: int | None = None
    pg_port: int | None = None


@dataclass
class ChaosReport:
    plan: ChaosPlan
    rounds: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    exited: Counter[str] = field(default_factory=Counter)  # exits nobody asked for, restarted
    kafka_restarts: int = 0
    pg_restarts: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    live_changes: int = 0
    truth_transactions: int = 0
    lost: int = 0
    duplicated: int = 0
    mismatched: int = 0
    examples: list[str] = field(default_factory=list)
    poison_injected: int = 0
    poison_dead_letters: int = 0
    unexpected_dead_letters: list[str] = field(default_factory=list)
    outbox_left: dict[str, int] = field(default_factory=dict)
    chaos_seconds: float = 0.0
    converge_seconds: float | None = None

    @property
    def ok(self) -> bool:
        return (
            self.converge_seconds is not None
            and not (self.lost or self.duplicated or self.mismatched)
            and not self.unexpected_dead_letters
            and self.poison_dead_letters >= self.poison_injected > 0
            and not any(self.outbox_left.values())
        )

    def table(self) -> str:
        p = self.plan
        exited = ", ".join(f"{k} {v}" for k, v in sorted(self.exited.items())) or "0"
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())) or "0"
        converged = "did not converge" if self.converge_seconds is None else f"{self.converge_seconds:.1f} s"
        rows = [
            ("seed", str(p.seed)),
            (
                "transactions: linked / in the truth at the end",
                f"{p.transactions:,} / {self.truth_transactions:,}",
            ),
            ("rounds", f"{self.rounds} in {self.chaos_seconds:.0f} s"),
            *((f"SIGKILL {s}", str(self.kills[s])) for s in SERVICES),
            ("exits by themselves (restarted)", exited),
            ("Kafka broker restarts", str(self.kafka_restarts)),
            ("PostgreSQL restarts (fast)", str(self.pg_restarts)),
            ("emulator faults", faults),
            ("live changes (days, refreshes)", str(self.live_changes)),
            ("time to converge after the chaos", converged),
            ("lost / duplicated / mismatched", f"{self.lost} / {self.duplicated} / {self.mismatched}"),
            (
                "dead letters: injected poison / other",
                f"{self.poison_dead_letters} of {self.poison_injected} / {len(self.unexpected_dead_letters)}",
            ),
            ("outbox rows left", str(sum(self.outbox_left.values()))),
            ("verdict", "PASS" if self.ok else "FAIL"),
        ]
        width = max(len(k) for k, _ in rows)
        lines = [f"| {'chaos':<{width}} | result |", f"|{'-' * (width + 2)}|--------|"]
        lines += [f"| {k:<{width}} | {v} |" for k, v in rows]
        lines += [f"  {e}" for e in self.examples[:10] + self.unexpected_dead_letters[:10]]
        return "\n".join(lines)


def sizes(total: int, items: int, rng: random.Random) -> list[int]:
    """`total` split over `items` Items of unequal sizes (one large, as a real user's main account)."""
    weights = [rng.uniform(0.5, 1.5) for _ in range(items)]
    weights[0] *= 2
    parts = [max(1, int(total * w / sum(weights))) for w in weights]
    parts[0] += total - sum(parts)
    return parts


class Chaos:
    def __init__(self, plan: ChaosPlan, stack: RunningStack, infra: Stack, user: StackUser) -> None:
        self.plan = plan
        self.stack = stack
        self.infra = infra
        self.user = user
        self.rng = random.Random(plan.seed)
        self.report = ChaosReport(plan)

    def say(self, text: str) -> None:
        print(f"[chaos {time.strftime('%H:%M:%S')}] {text}", flush=True)

    def revive(self) -> None:
        """Start again any process that exited by itself (as an orchestrator would), and count it."""
        for name in SERVICES:
            if self.stack.pid(name) is None:
                self.report.exited[name] += 1
                self.say(f"{name} had exited by itself: starting it again")
                self.stack.restart(name)

    def kill_one(self, name: str) -> None:
        self.stack.kill(name)
        self.report.kills[name] += 1
        time.sleep(self.rng.uniform(0.0, 1.0))
        self.stack.restart(name)

    def restart_kafka(self) -> None:
        self.say("Kafka broker: stop (SIGTERM), then start")
        self.infra.kafka.stop()
        time.sleep(self.rng.uniform(1.0, 3.0))
        self.infra.kafka.start()
        self.report.kafka_restarts += 1

    def restart_postgres(self) -> None:
        assert self.infra.postgres is not None
        self.say("PostgreSQL: fast shutdown, then start")
        self.infra.postgres.stop()
        time.sleep(self.rng.uniform(1.0, 3.0))
        self.infra.postgres.start()
        self.report.pg_restarts += 1

    def emulator_fault(self) -> None:
        name, rule = self.rng.choice(EMULATOR_FAULTS)
        self.user.control("POST", "/faults", rule)
        self.report.faults[name] += 1

    def live_change(self, item_ids: list[str]) -> None:
        if self.rng.random() < 0.5:
            self.user.control("POST", "/clock/advance", {"hours": self.rng.choice((6, 12, 24))})
        else:
            self.user.control("POST", f"/items/{self.rng.choice(item_ids)}/refresh")
        self.report.live_changes += 1

    def run(self) -> ChaosReport:
        plan, rng = self.plan, self.rng
        item_ids = [self.user.link_item(n)["item_id"] for n in sizes(plan.transactions, plan.items, rng)]
        self.say(f"linked {len(item_ids)} Items, {plan.transactions:,} transactions between them")
        poison = set(asyncio.run(inject_poison(self.stack.info.kafka_bootstrap_servers, plan.seed)))
        self.report.poison_injected = len(poison)
        victims = [SERVICES[i % len(SERVICES)] for i in range(plan.rounds)]
        rng.shuffle(victims)
        kafka_at, pg_at = plan.rounds // 3, (2 * plan.rounds) // 3
        started = time.monotonic()
        for n, victim in enumerate(victims):
            if time.monotonic() - started > plan.max_seconds:
                self.say(f"time bound reached after {n} rounds")
                break
            time.sleep(rng.uniform(0.2, 3.0))  # a random moment
            if rng.random() < 0.5:
                self.emulator_fault()
            if rng.random() < 0.7:
                self.live_change(item_ids)
            if n == kafka_at:
                self.restart_kafka()
            if n == pg_at:
                self.restart_postgres()
            self.revive()
            self.kill_one(victim)
            self.report.rounds = n + 1
            if n % 10 == 9:
                self.say(f"round {n + 1}: kills {dict(self.report.kills)}")
        self.report.chaos_seconds = time.monotonic() - started
        self.quiesce(item_ids, poison)
        return self.report

    def quiesce(self, item_ids: list[str], poison: set[bytes]) -> None:
        self.say("quiescence: faults cleared, waiting for the ledger to equal the truth")
        self.user.control("DELETE", "/faults")
        self.revive()
        began = time.monotonic()
        try:
            self.user.wait_converged(item_ids, timeout=self.plan.converge_timeout)
            self.report.converge_seconds = time.monotonic() - began
        except AssertionError as exc:
            self.say(f"did not converge: {str(exc)[:300]}")
        problems = self.user.mismatches(item_ids)
        self.report.truth_transactions = sum(len(self.user.truth(i)["transactions"]) for i in item_ids)
        self.report.lost = sum(p.startswith("lost") for p in problems)
        self.report.duplicated = sum(p.startswith("duplicated") for p in problems)
        self.report.mismatched = len(problems) - self.report.lost - self.report.duplicated
        self.report.examples = problems[:10]
        if problems:
            self.report.converge_seconds = None
        info = self.stack.info
        self.report.outbox_left = asyncio.run(wait_outbox_empty(info.database_url, timeout=60))
        deadline = time.monotonic() + 60  # the consumers set the poison aside as they reach it
        letters = asyncio.run(read_dead_letters(info.kafka_bootstrap_servers, poison))
        while letters.poison < len(poison) and time.monotonic() < deadline:
            time.sleep(2)
            letters = asyncio.run(read_dead_letters(info.kafka_bootstrap_servers, poison))
        self.report.poison_dead_letters = letters.poison
        self.report.unexpected_dead_letters = letters.unexpected


def run_chaos(plan: ChaosPlan, workdir: Path | None = None) -> ChaosReport:
    root = Path(tempfile.mkdtemp(prefix="bankstream-chaos-", dir=workdir))
    infra = Stack(
        root,
        kafka_port=plan.kafka_port or processes.free_port(),
        controller_port=processes.free_port(),
        pg_port=plan.pg_port or processes.free_port(),
        fast_pg=False,  # PostgreSQL restarts mid-stream: committed data must survive
        env_database=False,  # never a shared server named by DATABASE_URL
    )
    emulator = {
        "PLAID_EMULATOR_SEED": str(plan.seed),
        "PLAID_EMULATOR_RATE_LIMITS": "1" if plan.rate_limits else "0",
        "PLAID_EMULATOR_WEBHOOK_TIME_SCALE": "0.01",
        "PLAID_EMULATOR_REFRESH_DELAY": "0.2",
    }
    try:
        info = infra.up()
        with running_services(info, state=root / "state", env={"plaid-emulator": emulator}) as stack:
            user = StackUser(stack, f"chaos-{plan.seed}")
            try:
                return Chaos(plan, stack, infra, user).run()
            finally:
                user.http.close()
    finally:
        infra.down()
        logs = root / "state" / "logs"
        if logs.exists():  # the services' logs outlive the run, for a failure's post-mortem
            kept = Path(tempfile.gettempdir()) / f"bankstream-chaos-logs-{plan.seed}-{int(time.time())}"
            shutil.move(str(logs), kept)
            print(f"[chaos] service logs kept in {kept}", flush=True)
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    d = ChaosPlan()
    p = argparse.ArgumentParser(
        prog="chaos", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--transactions", type=int, default=d.transactions)
    p.add_argument("--items", type=int, default=d.items)
    p.add_argument("--rounds", type=int, default=d.rounds, help="SIGKILLs across the four services")
    p.add_argument("--max-seconds", type=float, default=d.max_seconds, help="bound on the chaos phase")
    p.add_argument("--converge-timeout", type=float, default=d.converge_timeout)
    p.add_argument("--rate-limits", action="store_true", help="the emulator enforces Plaid's rate limits")
    p.add_argument("--kafka-port", type=int, help="default: a free port")
    p.add_argument("--pg-port", type=int, help="default: a free port")
    a = p.parse_args(argv)
    plan = ChaosPlan(
        a.seed, a.transactions, a.items, a.rounds, a.max_seconds, a.converge_timeout, a.rate_limits,
        a.kafka_port, a.pg_port,
    )  # fmt: skip
    report = run_chaos(plan)
    print(report.table(), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
