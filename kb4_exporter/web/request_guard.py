"""Checks every request against the web config in force, and heads every response.

Basic auth is checked per request, against the users of the web config in force (so
passwords rotate without a restart); bcrypt runs off the event loop and is throttled for
credentials not seen to pass (`basic_auth.py`). Probes need no credentials.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from http import HTTPStatus

from aiohttp import web

from kb4_exporter.web.basic_auth import AttemptThrottle, BasicAuthenticator
from kb4_exporter.web.pages import fixed_text
from kb4_exporter.web.web_config import WebConfig
from kb4_exporter.web.web_config_reloader import WebConfigReloader

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Probes need no credentials: they reveal nothing, and Kubernetes or Docker health
# checks cannot easily send a password.
_UNAUTHENTICATED_PATHS = frozenset({"/-/healthy", "/-/ready"})
# "Server" replaces aiohttp's own, which names its version and Python's.
_COMMON_HEADERS = {
    "Cache-Control": "no-store",
    "Server": "kb4_exporter",
    "X-Content-Type-Options": "nosniff",
}
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="kb4_exporter", charset="UTF-8"'}


class RequestGuard:
    """The aiohttp middleware that authenticates requests and keeps error texts fixed,
    and the hook that adds the common and configured headers to every response."""

    def __init__(
        self,
        web_config: WebConfigReloader,
        *,
        authenticator: BasicAuthenticator,
        throttle: AttemptThrottle,
        bcrypt_pool: Executor,
    ) -> None:
        self._web_config = web_config
        self._authenticator = authenticator
        self._throttle = throttle
        self._bcrypt_pool = bcrypt_pool

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        config = self._web_config.current()
        if config.auth_enabled and request.path not in _UNAUTHENTICATED_PATHS:
            refusal = await self._authenticate(request, config)
            if refusal is not None:
                refusal.force_close()  # a client without valid credentials holds no connection
                return refusal
        try:
            return await handler(request)
        except web.HTTPException as exc:  # the router's 404 and 405, with our fixed texts
            allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            return fixed_text(HTTPStatus(exc.status), headers=allow)

    async def add_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(_COMMON_HEADERS)
        response.headers.update(self._web_config.current().headers)

    async def _authenticate(self, request: web.Request, config: WebConfig) -> web.Response | None:
        """None when the request may pass; else the answer that refuses it."""
        header = request.headers.get("Authorization")
        users = config.basic_auth_users
        passed = self._authenticator.known(header, users)
        if passed is None:
            wait = self._throttle.allow(request.remote)
            if wait > 0:
                log.debug("too many unverified credentials from %s", request.remote)
                retry = {"Retry-After": str(max(1, round(wait)))}
                return fixed_text(HTTPStatus.TOO_MANY_REQUESTS, headers=retry)
            passed = await asyncio.get_running_loop().run_in_executor(
                self._bcrypt_pool, self._authenticator.verify, header, users
            )
        return None if passed else fixed_text(HTTPStatus.UNAUTHORIZED, headers=_CHALLENGE)
