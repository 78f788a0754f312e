"""`make run`: the whole OrderCare stack on this machine, in the foreground until Ctrl-C.

* DynamoDB Local (java, child process) on OC_DDB_PORT (8001): the table, its stream;
* moto's server (in this process) on OC_AWS_PORT (8002): S3, SES/SESv2, SNS;
* `chalice local` (child process) on OC_API_PORT (8000): the API, with the
  catalogue seeded from local/demo_catalog.json through `PUT /v1/catalog/{sku}`;
* in this process: the stream replayer (the app's STREAM_CONSUMERS get the
  table's stream as Lambda events) and the scheduler (the app's schedules fire
  on their rates).

Ctrl-C or SIGTERM stops every child (process groups; SIGTERM, then SIGKILL) and exits 0.
Other tools that must talk to a running stack (e.g. `make sweep`) call
`configure_process_environment()` before importing app.py.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

from local.paths import REPO_ROOT, local_dir
from local.processes import port_in_use, spawn, stop_process_group

logger = logging.getLogger("local.stack")  # not __name__: this module runs as __main__

DEMO_CATALOG = Path(__file__).with_name("demo_catalog.json")
_FALSE = ("0", "off", "false", "no")
DROPPED_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)


class StackError(RuntimeError):
    """The local stack cannot start; the message says why and what to do."""


@dataclass(frozen=True)
class StackConfig:
    """Ports and names of the local stack, from OC_* environment variables."""

    api_port: int = 8000
    ddb_port: int = 8001
    aws_port: int = 8002
    host: str = "127.0.0.1"
    stage: str = "dev"
    region: str = "eu-central-1"
    sender_email: str = "orders@ordercare.local"
    schedules: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StackConfig:
        env = os.environ if env is None else env

        def port(name: str, default: int) -> int:
            raw = env.get(name, "").strip() or str(default)
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise StackError(f"{name}={raw!r} is not a TCP port")
            return int(raw)

        config = cls(
            api_port=port("OC_API_PORT", cls.api_port),
            ddb_port=port("OC_DDB_PORT", cls.ddb_port),
            aws_port=port("OC_AWS_PORT", cls.aws_port),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or cls.region,
            sender_email=env.get("OC_SENDER_EMAIL", "").strip() or cls.sender_email,
            schedules=env.get("OC_LOCAL_SCHEDULES", "on").strip().lower() not in _FALSE,
        )
        if len({config.api_port, config.ddb_port, config.aws_port}) != 3:
            raise StackError("OC_API_PORT, OC_DDB_PORT and OC_AWS_PORT must be three different ports")
        return config

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def dynamodb_url(self) -> str:
        return f"http://{self.host}:{self.ddb_port}"

    @property
    def emulator_url(self) -> str:
        return f"http://{self.host}:{self.aws_port}"


def app_environment(config: StackConfig, base: Mapping[str, str]) -> dict[str, str]:
    """`base` plus what makes the app's AWS clients use the local endpoints, never a real account."""
    env = {name: value for name, value in base.items() if name not in DROPPED_ENV}
    env.update(
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",  # noqa: S106 - the emulators accept anything # nosec B106
        AWS_REGION=config.region,
        AWS_DEFAULT_REGION=config.region,
        # Everything not named below goes to the emulator too, rather than to AWS.
        AWS_ENDPOINT_URL=config.emulator_url,
        AWS_ENDPOINT_URL_DYNAMODB=config.dynamodb_url,
        # botocore's name for "DynamoDB Streams" is ..._DYNAMODB_STREAMS; both are set.
        AWS_ENDPOINT_URL_DYNAMODB_STREAMS=config.dynamodb_url,
        AWS_ENDPOINT_URL_DYNAMODBSTREAMS=config.dynamodb_url,
        AWS_ENDPOINT_URL_S3=config.emulator_url,
        AWS_ENDPOINT_URL_SES=config.emulator_url,
        AWS_ENDPOINT_URL_SESV2=config.emulator_url,
        AWS_ENDPOINT_URL_SNS=config.emulator_url,
        OC_ENVIRONMENT="local",
        OC_LOCAL_EMULATOR_URL=config.emulator_url,
        OC_SENDER_EMAIL=config.sender_email,
        PYTHONUNBUFFERED="1",
    )
    env.setdefault("OC_PUBLIC_BASE_URL", config.api_url)
    env.setdefault("POWERTOOLS_SERVICE_NAME", "ordercare")
    env.setdefault("POWERTOOLS_METRICS_NAMESPACE", "OrderCare")
    return env


def configure_process_environment(env: Mapping[str, str] | None = None) -> StackConfig:
    """Point this process at a local stack (ports from OC_*_PORT); call before importing app.py."""
    config = StackConfig.from_env(env)
    os.environ.update(app_environment(config, os.environ))
    for name in DROPPED_ENV:
        os.environ.pop(name, None)
    return config


# --- the emulator ---------------------------------------------------------------------------------


def start_emulator(config: StackConfig) -> Any:
    """moto's server in a thread of this process; binding happens here, so a busy port raises."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class EmulatorServer(ThreadedMotoServer):
        """ThreadedMotoServer, but a failure to bind raises instead of hanging `start()`."""

        def start(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
            self._thread.start()

    server = EmulatorServer(ip_address=config.host, port=config.aws_port, verbose=False)
    server.start()
    return server


def provision(config: StackConfig, env: Mapping[str, str]) -> None:
    """The table, the documents bucket and the sender identity."""
    import boto3

    from chalicelib.adapters.dynamo.schema import ensure_table
    from chalicelib.settings import Settings

    settings = Settings.from_env(dict(env))
    session = boto3.session.Session(region_name=config.region)  # credentials: app_environment()
    dynamodb = session.client("dynamodb", endpoint_url=config.dynamodb_url)
    ensure_table(dynamodb, settings.table_name)

    s3 = session.client("s3", endpoint_url=config.emulator_url)
    bucket: dict[str, Any] = {"Bucket": settings.documents_bucket}
    if config.region != "us-east-1":
        bucket["CreateBucketConfiguration"] = {"LocationConstraint": config.region}
    s3.create_bucket(**bucket)
    s3.put_bucket_encryption(
        Bucket=settings.documents_bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    session.client("ses", endpoint_url=config.emulator_url).verify_email_identity(EmailAddress=config.sender_email)
    try:
        session.client("sesv2", endpoint_url=config.emulator_url).create_email_identity(
            EmailIdentity=config.sender_email
        )
    except Exception as exc:  # already known through SES v1 in some moto versions
        logger.debug("sesv2 identity: %s", exc)
    # The operations alert topic (escalations are also emailed to the ops address).
    topic_name = settings.ops_topic_arn.rsplit(":", 1)[-1]
    session.client("sns", endpoint_url=config.emulator_url).create_topic(Name=topic_name)


# --- the API --------------------------------------------------------------------------------------


def _chalice_command(config: StackConfig) -> list[str]:
    chalice = Path(sys.executable).parent / "chalice"
    if not chalice.exists():
        chalice = REPO_ROOT / ".venv" / "bin" / "chalice"
    if not chalice.exists():
        raise StackError("`chalice` is not installed in the virtualenv; run `make install`")
    return [
        str(chalice),
        "local",
        "--no-autoreload",
        "--host",
        config.host,
        "--port",
        str(config.api_port),
        "--stage",
        config.stage,
    ]


def _http(
    method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None, timeout: float = 10
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http://127.0.0.1 only
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http://127.0.0.1 only: the local stack's own API # nosec B310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def _wait_for_health(config: StackConfig, api: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if api.poll() is not None:
            raise StackError(
                f"`chalice local` exited with code {api.returncode} before answering /health (its output is above)"
            )
        try:
            status, body = _http("GET", f"{config.api_url}/health", timeout=2)
            if status == 200:
                return
            last = f"{status} {body}"[:300]
        except OSError as exc:
            last = str(exc)
        time.sleep(0.25)
    raise StackError(
        f"the API did not answer GET {config.api_url}/health with 200 within {timeout:.0f} s (last answer: {last})"
    )


def seed_catalog(config: StackConfig, env: Mapping[str, str], path: Path = DEMO_CATALOG) -> int:
    """PUT every demo item through the public API; return how many were stored."""
    from chalicelib.api.auth import mint_local_token
    from chalicelib.settings import Settings

    items: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    token = mint_local_token(Settings.from_env(dict(env)), "admin", "local-stack", ttl_seconds=600)
    stored = 0
    for item in items:
        body = {key: value for key, value in item.items() if key != "sku"}
        status, answer = _http(
            "PUT",
            f"{config.api_url}/v1/catalog/{item['sku']}",
            body,
            {"Authorization": f"Bearer {token}"},
        )
        if status not in (200, 201):
            logger.warning("catalogue not seeded: PUT /v1/catalog/%s answered %d %s", item["sku"], status, answer)
            break
        stored += 1
    return stored


# --- the stack ------------------------------------------------------------------------------------


class _Stop(BaseException):  # like KeyboardInterrupt: `except Exception` does not catch it
    """Raised in the main thread by SIGINT / SIGTERM."""


class StopSignals:
    """The SIGINT / SIGTERM handler: the first signal raises `_Stop`, later ones only say so.

    It takes no lock, not even to log: Python runs it between any two bytecodes of the main thread,
    which may hold that very lock. (It once set a threading.Event, whose lock the main thread holds
    for an instant of every `Event.wait`: a signal in that instant hung `make run` for good.)
    """

    def __init__(self) -> None:
        self.first_at: float | None = None

    @property
    def received(self) -> bool:
        return self.first_at is not None

    def install(self) -> StopSignals:
        signal.signal(signal.SIGINT, self.handle)
        signal.signal(signal.SIGTERM, self.handle)
        return self

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.first_at is not None:
            # `make` passes SIGTERM on to us as well: only a later signal is worth a word.
            if time.monotonic() - self.first_at > 1.0:
                os.write(2, b"still stopping...\n")
            return
        self.first_at = time.monotonic()
        raise _Stop(signal.Signals(signum).name)

    def ignore_from_now(self) -> None:
        """Stopping has begun: a signal from now on only logs."""
        if self.first_at is None:
            self.first_at = time.monotonic()


class LocalStack:
    """Everything `make run` starts, and stops again in reverse order."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.env = app_environment(config, os.environ)
        self.dynamodb: Any = None
        self.emulator: Any = None
        self.api: subprocess.Popen[bytes] | None = None
        self.replayer: Any = None
        self.scheduler: Any = None
        self.app_module: ModuleType | None = None

    def check_ports(self) -> None:
        busy = [
            f"port {port} ({name}, {what})"
            for port, name, what in (
                (self.config.api_port, "OC_API_PORT", "the API"),
                (self.config.ddb_port, "OC_DDB_PORT", "DynamoDB Local"),
                (self.config.aws_port, "OC_AWS_PORT", "the AWS emulator"),
            )
            if port_in_use(port, self.config.host)
        ]
        if busy:
            raise StackError(
                f"{' and '.join(busy)} already in use on {self.config.host}. Is another `make run` "
                "still running? Stop it, or pick free ports, e.g. "
                "`OC_API_PORT=9000 OC_DDB_PORT=9001 OC_AWS_PORT=9002 make run`"
            )

    def start(self) -> None:
        from local.dynamodb_local import DynamoDBLocal, DynamoDBLocalError

        config = self.config
        if not (REPO_ROOT / "app.py").is_file() or not (REPO_ROOT / ".chalice" / "config.json").is_file():
            raise StackError(f"{REPO_ROOT} has no app.py or .chalice/config.json")
        self.check_ports()
        os.environ.update(self.env)  # this process hosts the stream consumers and schedules
        for name in DROPPED_ENV:
            os.environ.pop(name, None)

        runtime = local_dir()
        try:
            self.dynamodb = DynamoDBLocal(
                config.ddb_port, host=config.host, log_path=runtime / "dynamodb-local.log"
            ).start()
        except DynamoDBLocalError as exc:
            raise StackError(str(exc)) from exc
        logger.info("DynamoDB Local on %s (pid %s)", config.dynamodb_url, self.dynamodb.pid)

        try:
            self.emulator = start_emulator(config)
        except OSError as exc:
            raise StackError(f"the AWS emulator cannot listen on port {config.aws_port}: {exc}") from exc
        logger.info("AWS emulator (moto: S3, SES, SESv2, SNS) on %s", config.emulator_url)

        provision(config, self.env)

        self.api = spawn(_chalice_command(config), env=self.env, cwd=REPO_ROOT, stdout=sys.stderr)
        _wait_for_health(config, self.api)
        logger.info("API on %s (chalice local, pid %d)", config.api_url, self.api.pid)

        seeded = seed_catalog(config, self.env)
        if seeded:
            logger.info("catalogue: %d demo items from %s", seeded, DEMO_CATALOG.name)

        self._start_runtime()

    def _start_runtime(self) -> None:
        from local.scheduler import Scheduler, local_schedules
        from local.streams import StreamReplayer, consumers_from_app

        if str(REPO_ROOT) not in sys.path:
            sys.path.insert(0, str(REPO_ROOT))
        try:
            self.app_module = importlib.import_module("app")
        except Exception:
            logger.exception("app.py does not import here: no stream replay, no schedules")
            return
        from chalicelib.settings import Settings

        settings = Settings.from_env(self.env)
        handlers = consumers_from_app(self.app_module)
        self.replayer = StreamReplayer(
            settings.table_name,
            handlers,
            endpoint_url=self.config.dynamodb_url,
            region=self.config.region,
            # as the mappings in AWS: concurrent batches per shard, partitioned by order
            parallelization_factor=settings.stream_parallelization_factor,
            batching_window=settings.stream_batching_window_seconds,
        ).start()
        self.scheduler = Scheduler(schedules=local_schedules(self.app_module))  # the documents app's too
        if self.config.schedules:
            self.scheduler.start()

    def banner(self) -> str:
        config = self.config
        consumers = ", ".join(self.replayer.function_names) if self.replayer else ""
        schedules = ", ".join(f"{s.name} {s.expression}" for s in self.scheduler.schedules) if self.scheduler else ""
        if self.scheduler and not config.schedules:
            schedules += " (not fired: OC_LOCAL_SCHEDULES=off)"
        failures = self.replayer.failures_path if self.replayer else local_dir() / "failures.jsonl"
        if failures is not None and failures.is_relative_to(REPO_ROOT):
            failures = failures.relative_to(REPO_ROOT)
        table = self.env.get("OC_TABLE_NAME", "ordercare-local")
        lines = [
            "",
            "OrderCare local stack is up",
            f"  API             {config.api_url}   (/health, /openapi.json)",
            f"  outbox          {config.api_url}/local/outbox   (emails and SMS sent)",
            f"  portal          {config.api_url}/account   (customers sign in with a code from the outbox)",
            f"  DynamoDB Local  {config.dynamodb_url}   table {table}",
            f"  AWS emulator    {config.emulator_url}   (moto: S3, SES, SESv2, SNS)",
            f"  stream          {consumers or 'no consumers registered (chalicelib/events.py)'}",
            f"  schedules       {schedules or 'none'}",
            f"  failures        {failures}",
            "  token           make -s token ROLE=customer SUB=cus_alice",
            "Ctrl-C stops everything.",
            "",
        ]
        return "\n".join(lines)

    def watch(self, signals: StopSignals) -> None:
        """Return when a child dies (raising StackError); signals raise `_Stop` (and are recorded in
        `signals`, checked too, in case the handler's exception was lost in a library's cleanup)."""
        while True:
            time.sleep(0.5)  # not an Event's wait: see StopSignals
            if signals.received:
                raise _Stop("signal")
            if self.api is not None and self.api.poll() is not None:
                raise StackError(f"`chalice local` exited unexpectedly with code {self.api.returncode}")
            if self.dynamodb is not None and not self.dynamodb.running():
                raise StackError("DynamoDB Local exited unexpectedly (see .local/dynamodb-local.log)")

    def stop(self) -> None:
        """Stop everything that was started, newest first; never raises."""
        steps: list[tuple[str, Any]] = [
            ("scheduler", lambda: self.scheduler and self.scheduler.stop(timeout=5)),
            ("stream replayer", lambda: self.replayer and self.replayer.stop(timeout=5)),
            ("API", lambda: self.api and stop_process_group(self.api, name="chalice local", timeout=5)),
            ("DynamoDB Local", lambda: self.dynamodb and self.dynamodb.stop(timeout=10)),
            ("AWS emulator", lambda: self.emulator and self.emulator.stop()),
        ]
        for name, step in steps:
            try:
                step()
            except Exception:
                logger.exception("stopping the %s failed", name)
        self.api = self.dynamodb = self.emulator = self.replayer = self.scheduler = None


def _configure_logging() -> None:
    level = os.environ.get("OC_LOCAL_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main() -> int:
    _configure_logging()
    signals = StopSignals().install()

    stack: LocalStack | None = None
    code = 0
    try:
        stack = LocalStack(StackConfig.from_env())
        stack.start()
        sys.stdout.write(stack.banner() + "\n")
        sys.stdout.flush()
        stack.watch(signals)
    except _Stop as stop:
        logger.info("%s received: stopping", stop)
    except StackError as exc:
        logger.error("%s", exc)
        code = 1
    except Exception:
        logger.exception("the local stack failed")
        code = 1
    finally:
        signals.ignore_from_now()
        if stack is not None:
            stack.stop()
    logger.info("local stack stopped")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
