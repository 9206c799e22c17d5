"""Small HTTP pieces for tests that talk to real servers on 127.0.0.1.

- `get_json` / `post_json`: clients that never go through an HTTP proxy from the
  environment (a proxy cannot reach our loopback servers).
- `ExpositionServer`: serves a fixed exposition text on /metrics for Prometheus to scrape.
- `WebhookReceiver`: records what Alertmanager posts to it.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
REQUEST_TIMEOUT_SECONDS = 5.0


def get_json(url: str, params: Mapping[str, str] | None = None) -> Any:
    if params:
        url = f"{url}?{urllib.parse.urlencode(params)}"
    with _NO_PROXY.open(url, timeout=REQUEST_TIMEOUT_SECONDS) as response:
        return json.load(response)


def post_json(url: str, payload: Any) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with _NO_PROXY.open(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
        body = response.read()
    return json.loads(body) if body else None


def is_http_ok(url: str) -> bool:
    """True when `url` answers 200; False for any error or refusal (server not up yet)."""
    try:
        with _NO_PROXY.open(url, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class _BackgroundServer:
    """A ThreadingHTTPServer on an ephemeral loopback port, run in a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=REQUEST_TIMEOUT_SECONDS)


class _QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep request lines out of the test output."""


class ExpositionServer(_BackgroundServer):
    """Serves `text` as Prometheus text exposition on /metrics."""

    def __init__(self, text: str) -> None:
        body = text.encode()

        class Handler(_QuietHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)


class WebhookReceiver(_BackgroundServer):
    """Records the JSON bodies POSTed to it, by request path, and when each arrived."""

    def __init__(self) -> None:
        self._received: dict[str, list[Any]] = {}
        self._arrived: dict[str, list[float]] = {}
        self._changed = threading.Condition()
        receiver = self

        class Handler(_QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                payload = json.loads(self.rfile.read(length) or b"null")
                receiver._record(self.path, payload)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler)

    def url(self, path: str) -> str:
        return f"http://{self.host_port}{path}"

    def received(self, path: str) -> list[Any]:
        with self._changed:
            return list(self._received.get(path, []))

    def arrivals(self, path: str) -> list[tuple[float, Any]]:
        """(time.time() on arrival, body) of every POST to `path`."""
        with self._changed:
            return list(zip(self._arrived.get(path, []), self._received.get(path, []), strict=True))

    def wait_for(
        self, path: str, predicate: Callable[[list[Any]], bool], timeout_seconds: float
    ) -> list[Any]:
        """Block until `predicate(bodies posted to path)` holds; TimeoutError after the bound."""
        deadline = time.monotonic() + timeout_seconds
        with self._changed:
            while not predicate(self._received.get(path, [])):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"webhook {path} did not get the expected notification within "
                        f"{timeout_seconds:.0f}s; got {self._received.get(path, [])!r}"
                    )
                self._changed.wait(remaining)
            return list(self._received.get(path, []))

    def _record(self, path: str, payload: Any) -> None:
        with self._changed:
            self._arrived.setdefault(path, []).append(time.time())
            self._received.setdefault(path, []).append(payload)
            self._changed.notify_all()
