"""sync-worker's pipeline as a process for the crash tests: `worker_main.py TOKENS_JSON_PATH`, settings from
the environment (SYNC_WORKER_*), access tokens from the file the test wrote. Runs until killed."""

import asyncio
import sys
from pathlib import Path

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import FAST_POLICY, EmulatorTokens
from sync_worker.bootstrap import bootstrap
from sync_worker.config import Settings


async def main(tokens_path: Path) -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    container = await bootstrap(Settings(), tokens=EmulatorTokens(path=tokens_path), policy=FAST_POLICY)  # type: ignore[call-arg]
    task = asyncio.create_task(container.supervisor.run())
    await container.supervisor.ready.wait()
    await container.consumer.started.wait()
    print("worker started", flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
