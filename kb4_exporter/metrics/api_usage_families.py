"""How much of the KnowBe4 APIs an account uses: requests by status code, 429s, the
daily budget and what is left of it, and failed writes of its state file."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from kb4_exporter.metrics.families import Family, add_known, counter, gauge
from kb4_exporter.refresh.views import ApiUsage


class ApiUsageFamilies:
    def __init__(self) -> None:
        self.budget_limit = gauge(
            "kb4_api_budget_limit",
            "Daily request budget of the API (rolling 24 h window), as the exporter counts it.",
            "api",
        )
        self.budget_remaining = gauge(
            "kb4_api_budget_remaining",
            "Requests left in the rolling 24 h window, from the exporter's own request ledger.",
            "api",
        )
        self.requests = counter(
            "kb4_api_requests", "KnowBe4 API requests sent, by HTTP status code.", "api", "code"
        )
        self.throttled = counter(
            "kb4_api_throttled", "KnowBe4 API responses with status 429.", "api"
        )
        self.state_write_errors = counter(
            "kb4_state_write_errors",
            "Failed writes of the account's state file (the previous file is kept).",
        )

    def all(self) -> Iterator[Family]:
        yield from (
            self.budget_limit,
            self.budget_remaining,
            self.requests,
            self.throttled,
            self.state_write_errors,
        )

    def add(self, account: str, apis: Iterable[ApiUsage], state_write_errors: int) -> None:
        for api in apis:
            labels = [account, api.api]
            add_known(self.budget_limit, labels, api.budget_limit)
            add_known(self.budget_remaining, labels, api.budget_remaining)
            for code, count in sorted(api.requests_by_code.items()):
                self.requests.add_metric([*labels, code], count)
            self.throttled.add_metric(labels, api.throttled)
        self.state_write_errors.add_metric([account], state_write_errors)
