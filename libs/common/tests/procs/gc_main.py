"""A service process for the runtime test: `gc_main.py` starts a service through `run_service`; its one
worker prints how the garbage collector is set and whether what start-up built is still walked by it,
then ends the process (SIGTERM: exit 0)."""

import asyncio
import gc
import os
import signal

from bankstream_common.http import create_http_app
from bankstream_common.metrics import create_registry
from bankstream_common.runtime import Service, run_service
from bankstream_common.testing.service_process import free_port


class Report:
    def __init__(self, built: object) -> None:
        self.built = built
        self._stop = asyncio.Event()

    async def run(self) -> None:
        walked = any(o is self.built for o in gc.get_objects())
        print(f"thresholds={gc.get_threshold()} start_up_walked={walked}", flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
        await self._stop.wait()

    def stop(self) -> None:
        self._stop.set()


async def build() -> Service:
    built = {"model": ["what start-up loads"]}  # a container the collector tracks
    app = create_http_app(service="gc", settings=None, registry=create_registry(), readiness={})
    return Service(app=app, host="127.0.0.1", port=free_port(), workers=[Report(built)], grace_seconds=1.0)


if __name__ == "__main__":
    run_service(build)
