"""What each path answers: `/metrics`, the landing page `/`, `/-/healthy` and `/-/ready`.

Every text is fixed or escaped: nothing from a request is ever reflected.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from http import HTTPStatus

from aiohttp import web

from kb4_exporter.metrics.exposition import MetricsBody

log = logging.getLogger(__name__)

# (Accept header, client accepts gzip) -> the body; called in a worker thread.
RenderMetrics = Callable[[str | None, bool], MetricsBody]
# None when ready, else what the exporter waits for.
Readiness = Callable[[], str | None]


@dataclass(frozen=True)
class LandingPage:
    """What `/` shows; links to /metrics, /-/healthy and /-/ready are added by the server."""

    title: str
    version: str
    description: str

    def html(self) -> bytes:
        title, version, description = (
            html.escape(self.title),
            html.escape(self.version),
            html.escape(self.description),
        )
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en">\n'
            f'<head><meta charset="utf-8"><title>{title}</title></head>\n'
            f"<body>\n<h1>{title}</h1>\n<p>{description}</p>\n<p>Version: {version}</p>\n"
            "<ul>\n"
            '<li><a href="metrics">Metrics</a></li>\n'
            '<li><a href="-/healthy">Health</a></li>\n'
            '<li><a href="-/ready">Readiness</a></li>\n'
            "</ul>\n</body>\n</html>\n"
        ).encode()


def fixed_text(
    status: HTTPStatus, text: str = "", headers: Mapping[str, str] | None = None
) -> web.Response:
    """A plain-text answer: `text`, or the status line's words (e.g. `404 Not Found`)."""
    body = text or f"{status.value} {status.phrase}\n"
    return web.Response(status=status, text=body, headers=headers)


class ExporterPages:
    """The handlers of the exporter's four paths."""

    def __init__(
        self,
        *,
        render_metrics: RenderMetrics,
        readiness: Readiness,
        landing_page: LandingPage,
        render_pool: Executor,
    ) -> None:
        self._render_metrics = render_metrics
        self._readiness = readiness
        self._landing = landing_page.html()
        self._render_pool = render_pool

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/", self._landing_page)
        router.add_get("/metrics", self._metrics)
        router.add_get("/-/healthy", self._healthy)
        router.add_get("/-/ready", self._ready)

    async def _landing_page(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self._landing,
            headers={
                "Content-Type": "text/html; charset=utf-8",
                "Content-Security-Policy": "default-src 'none'",
            },
        )

    async def _healthy(self, request: web.Request) -> web.Response:
        return fixed_text(HTTPStatus.OK, "OK\n")

    async def _ready(self, request: web.Request) -> web.Response:
        try:
            waiting_for = self._readiness()
        except Exception:
            log.exception("readiness check failed")
            waiting_for = "the readiness check failed (see the log)"
        if waiting_for is None:
            return fixed_text(HTTPStatus.OK, "OK\n")
        return fixed_text(HTTPStatus.SERVICE_UNAVAILABLE, f"not ready: {waiting_for}\n")

    async def _metrics(self, request: web.Request) -> web.Response:
        accept = request.headers.get("Accept")
        gzip_ok = accepts_gzip(request.headers.get("Accept-Encoding"))
        try:
            body = await asyncio.get_running_loop().run_in_executor(
                self._render_pool, self._render_metrics, accept, gzip_ok
            )
        except Exception:
            log.exception("rendering /metrics failed")
            return fixed_text(HTTPStatus.INTERNAL_SERVER_ERROR)
        headers = {"Content-Type": body.content_type, "Vary": "Accept, Accept-Encoding"}
        if body.gzipped:
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body.data, headers=headers)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an `Accept-Encoding` value allows gzip (listed, with a q other than 0)."""
    for item in (accept_encoding or "").split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() != "gzip":
            continue
        quality = params.strip().lower()
        return not (quality.startswith("q=") and _is_zero(quality[2:]))
    return False


def _is_zero(text: str) -> bool:
    try:
        return float(text) == 0
    except ValueError:
        return False
