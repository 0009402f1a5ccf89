"""A single-node Apache Kafka broker (KRaft) run from the jars Maven Central serves.

`deploy/kafka/pom.xml` names the broker and its log4j binding; Maven copies the runtime classpath into the
cache once (keyed by the pom's hash), then every start is: write server.properties, format the data dir
(once), launch `kafka.Kafka`, wait for "Kafka Server started" in its log, and confirm with a metadata
round-trip from a real client.
"""

import asyncio
import base64
import hashlib
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from . import processes
from .errors import DevstackError
from .paths import REPO_ROOT, cache_dir

POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
READY_LINE = "Kafka Server started"


def _require(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise DevstackError(f"{tool} not found: {hint}")
    return path


def resolve_jars() -> Path:
    """The directory holding the broker's runtime classpath, resolved with Maven on first use."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
    libs = cache_dir() / f"kafka-{digest}" / "libs"
    if (libs / ".complete").exists():
        return libs
    _require("java", "install a JDK 17+ (apt-get install -y openjdk-17-jre-headless)")
    mvn = _require("mvn", "install Maven (apt-get install -y maven)")
    tmp = libs.with_name("libs.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    processes.run(
        [
            mvn,
            "-B",
            "-q",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={tmp}",
        ],
        tmp.parent / "maven.log",
        "resolving the Kafka jars with Maven",
        timeout=600,
    )
    if not any(tmp.glob("kafka_2.13-*.jar")):
        raise DevstackError(f"Maven finished but no kafka_2.13 jar is in {tmp}")
    (tmp / ".complete").write_text("ok\n")
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)
    return libs


def new_cluster_id() -> str:
    """16 random bytes, url-safe base64 without padding, never starting with '-' (Kafka's rule)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


@dataclass
class KafkaBroker:
    data_dir: Path
    port: int
    controller_port: int
    heap: str = "768m"
    pid: int | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "logs" / "server.log"

    def _write_config(self) -> tuple[Path, Path]:
        props = self.data_dir / "server.properties"
        log4j = self.data_dir / "log4j2.properties"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    f"log.dirs={self.data_dir / 'data'}",
                    "num.partitions=1",
                    "auto.create.topics.enable=false",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=3",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "transaction.state.log.num.partitions=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "",
                ]
            )
        )
        log4j.write_text(
            "\n".join(
                [
                    "status = error",
                    "appender.file.type = File",
                    "appender.file.name = FILE",
                    f"appender.file.fileName = {self.log_file}",
                    "appender.file.layout.type = PatternLayout",
                    "appender.file.layout.pattern = [%d] %p %m (%c)%n",
                    "rootLogger.level = WARN",
                    "rootLogger.appenderRef.file.ref = FILE",
                    "logger.raft.name = kafka.server.KafkaRaftServer",
                    "logger.raft.level = INFO",
                    "",
                ]
            )
        )
        return props, log4j

    def start(self, timeout: float = 90.0) -> None:
        libs = resolve_jars()
        java = _require("java", "install a JDK 17+ (apt-get install -y openjdk-17-jre-headless)")
        processes.require_free(self.port, "Kafka")
        processes.require_free(self.controller_port, "the Kafka controller")
        props, log4j = self._write_config()
        classpath = f"{libs}/*"
        logprop = f"-Dlog4j2.configurationFile={log4j}"
        if not (self.data_dir / "data" / "meta.properties").exists():
            processes.run(
                [
                    java,
                    "-cp",
                    classpath,
                    logprop,
                    "kafka.tools.StorageTool",
                    "format",
                    "--ignore-formatted",
                    "-t",
                    new_cluster_id(),
                    "-c",
                    str(props),
                ],
                self.data_dir / "logs" / "format.log",
                "formatting the Kafka data directory",
                timeout=120,
            )
        start_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        proc = processes.spawn(
            [
                java,
                f"-Xms{self.heap}",
                f"-Xmx{self.heap}",
                "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
                "-cp",
                classpath,
                logprop,
                "kafka.Kafka",
                str(props),
            ],
            self.data_dir / "logs" / "stdout.log",
        )
        self.pid = proc.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise DevstackError(
                    f"Kafka exited with code {proc.returncode}: {processes.last_line(self.log_file)}"
                )
            if self._log_since(start_offset).find(READY_LINE) >= 0:
                break
            time.sleep(0.1)
        else:
            self.stop()
            raise DevstackError(f"Kafka did not start within {timeout:.0f}s (log: {self.log_file})")
        asyncio.run(wait_for_metadata(self.bootstrap_servers, within=max(5.0, deadline - time.monotonic())))

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_file, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.pid is not None:
            processes.terminate(self.pid, grace=30)
            self.pid = None


async def wait_for_metadata(bootstrap_servers: str, within: float = 30.0) -> None:
    """A real client's metadata round-trip: the broker is reachable and has a controller."""
    from aiokafka.admin import AIOKafkaAdminClient

    deadline = time.monotonic() + within
    last: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
        try:
            await admin.start()
            await admin.describe_cluster()
            return
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"; the last one is reported
            last = exc
            await asyncio.sleep(0.2)
        finally:
            await admin.close()
    raise DevstackError(f"Kafka at {bootstrap_servers} did not answer a metadata request: {last!r}")


def env_heap() -> str:
    return os.environ.get("BANKSTREAM_KAFKA_HEAP", "768m")
