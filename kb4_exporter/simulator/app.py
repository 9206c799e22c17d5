"""The simulated API as a plain function of a request, with no sockets involved.

Order of work for each request: count it under its endpoint template; apply an
answering fault (status, retry_after, reset, html_200) if one is due; check the
method, the bearer token (401), the Accept header (406) and the pacing limits (429);
serve the endpoint; apply a transforming fault (timeout, malformed_json, wrong_shape,
repeat_page). Each token belongs to one API: the Reporting token only works under
/v1, the PhishER token only on /graphql, the User Event API token only on
/user-events/events, and each has its own pacing counters. The User Event API's daily
budget is its own quota (ten calls per seat unless a budget is configured).
"""

from __future__ import annotations

import dataclasses
import hmac
import itertools
import json
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import phisher_api, routes, user_events_api
from .faults import ANSWERING_KINDS, Fault, FaultBook
from .org import Org
from .pacing import Pacer, PacingLimits, Throttle

PHISHER_PATH = "/graphql"
UNKNOWN_ENDPOINT = "<unknown>"
JSON_TYPE = "application/json; charset=utf-8"
_HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Scheduled maintenance</title></head>"
    b"<body><h1>We'll be back soon</h1></body></html>"
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # names lower-cased
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    # Close the connection with a TCP reset instead of answering.
    reset: bool = False
    # Wait this long (or until the server stops) before answering.
    hold_seconds: float = 0.0


def _json(status: int, body: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    encoded = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(status, encoded, headers=headers)


class SimulatorApp:
    def __init__(
        self,
        org: Org,
        *,
        token: str,
        phisher_token: str,
        user_events_token: str,
        limits: PacingLimits,
        faults: Sequence[Fault],
        clock: Callable[[], float],
        phisher_max_per: int = phisher_api.DEFAULT_MAX_PER,
        pagination: str = routes.CURSOR,
    ) -> None:
        if pagination not in routes.PAGINATIONS:
            raise ValueError(f"pagination must be one of {routes.PAGINATIONS}")
        self._org = org
        self._pagination = pagination
        self._tokens = {
            "reporting": token,
            "phisher": phisher_token,
            "user_events": user_events_token,
        }
        self._pacer = Pacer(limits, clock, seats=org.seats)
        self._event_pacer = Pacer(
            limits, clock, seats=org.seats, budget_for=limits.user_event_budget_for
        )
        self._faults = FaultBook(faults)
        self._clock = clock
        self._phisher_max_per = phisher_max_per
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._statuses: Counter[int] = Counter()
        self._request_ids = itertools.count(1)

    # --- control --------------------------------------------------------------------

    def set_org(self, org: Org) -> None:
        self._org = org
        self._pacer.set_seats(org.seats)
        self._event_pacer.set_seats(org.seats)

    def set_faults(self, faults: Sequence[Fault]) -> None:
        self._faults.replace(faults)

    def request_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._requests)

    def status_counts(self) -> dict[int, int]:
        """Responses by status code; 0 counts connections reset without a response."""
        with self._lock:
            return dict(self._statuses)

    def reset_counts(self) -> None:
        with self._lock:
            self._requests.clear()
            self._statuses.clear()

    @property
    def daily_budget(self) -> int | None:
        return self._pacer.daily_budget

    @property
    def user_events_daily_budget(self) -> int | None:
        return self._event_pacer.daily_budget

    # --- requests -------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        template = endpoint_template(request.path)
        with self._lock:
            self._requests[template] += 1
            request_id = next(self._request_ids)
        fault = self._faults.take(request.path)
        if fault is not None and fault.kind in ANSWERING_KINDS:
            response = _fault_answer(fault)
        else:
            if fault is not None and fault.kind == "repeat_page":
                # The first page again, under either paging contract.
                first = {**request.query, "page": "1", "cursor": "true"}
                request = dataclasses.replace(request, query=first)
            response = self._serve(request, template)
            if fault is not None:
                response = _transform(fault, response)
        with self._lock:
            self._statuses[0 if response.reset else response.status] += 1
        headers = (*response.headers, ("X-Request-Id", f"sim-{request_id:08d}"))
        return dataclasses.replace(response, headers=headers)

    def _serve(self, request: Request, template: str) -> Response:
        org = self._org  # one org for the whole request, even if swapped meanwhile
        if template == UNKNOWN_ENDPOINT:
            return _json(404, {"message": "Not Found"})
        api = api_of(template)
        if request.method != ("POST" if api == "phisher" else "GET"):
            return _json(405, {"message": "Method Not Allowed"})
        if not self._authorised(api, request.headers.get("authorization", "")):
            if api == "phisher":
                return _json(401, {"errors": [{"message": "Unauthorized"}]})
            return _json(401, {"message": "Unauthorized"})
        if api == "reporting" and not accepts_json(request.headers.get("accept", "")):
            return _json(406, {"message": "The output must be in JSON format"})
        pacer = self._event_pacer if api == "user_events" else self._pacer
        throttle = pacer.admit(api)
        if throttle is not None:
            return _throttled(api, throttle)
        if api == "phisher":
            reply = phisher_api.execute(
                org, request.body, max_per=self._phisher_max_per, now=self._clock()
            )
        elif api == "user_events":
            reply = user_events_api.list_events(org, routes.Params(request.query))
        else:
            found = routes.match(request.path)
            assert found is not None  # the template matched
            route, ids = found
            reply = route.handler(org, ids, routes.Params(request.query, self._pagination))
        return _json(reply.status, reply.body, reply.headers)

    def _authorised(self, api: str, header: str) -> bool:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credentials.strip().encode(), self._tokens[api].encode())


def endpoint_template(path: str) -> str:
    if path.rstrip("/") == PHISHER_PATH:
        return PHISHER_PATH
    if path.rstrip("/") == user_events_api.EVENTS_PATH:
        return user_events_api.EVENTS_PATH
    found = routes.match(path)
    return found[0].template if found else UNKNOWN_ENDPOINT


def api_of(template: str) -> str:
    """The API (and so the token and pacing counters) an endpoint template belongs to."""
    if template == PHISHER_PATH:
        return "phisher"
    if template == user_events_api.EVENTS_PATH:
        return "user_events"
    return "reporting"


def accepts_json(accept: str) -> bool:
    """Whether an Accept header allows JSON (no header allows anything)."""
    if not accept.strip():
        return True
    for media_range in accept.split(","):
        kind, *params = (part.strip() for part in media_range.split(";"))
        quality = next((p[2:] for p in params if p.replace(" ", "").startswith("q=")), "1")
        if kind.lower() in ("application/json", "application/*", "*/*") and quality != "0":
            return True
    return False


def _throttled(api: str, throttle: Throttle) -> Response:
    headers = () if throttle.retry_after is None else (("Retry-After", str(throttle.retry_after)),)
    if api == "phisher":
        return _json(429, {"errors": [{"message": "Too Many Requests"}]}, headers)
    if api == "user_events" and throttle.limit == "day":
        # The quota's own wording, which clients look for.
        return _json(429, {"message": "Limit Exceeded"}, headers)
    return _json(429, {"message": "Too Many Requests"}, headers)


def _fault_answer(fault: Fault) -> Response:
    if fault.kind == "reset":
        return Response(0, b"", reset=True)
    if fault.kind == "html_200":
        return Response(200, _HTML_PAGE, content_type="text/html; charset=utf-8")
    if fault.kind == "retry_after":
        return _json(
            429, {"message": "Too Many Requests"}, (("Retry-After", fault.retry_after or "1"),)
        )
    headers = () if fault.retry_after is None else (("Retry-After", fault.retry_after),)
    return _json(fault.status, {"message": f"Simulated failure ({fault.status})"}, headers)


def _transform(fault: Fault, response: Response) -> Response:
    if fault.kind == "timeout":
        return dataclasses.replace(response, hold_seconds=fault.hold_seconds)
    if fault.kind == "malformed_json":
        return dataclasses.replace(response, body=response.body[: max(1, len(response.body) // 2)])
    if fault.kind == "wrong_shape":
        body = json.loads(response.body)
        reshaped = {"items": body} if isinstance(body, list) else [body]
        return dataclasses.replace(_json(response.status, reshaped), headers=response.headers)
    return response
