"""The KnowBe4 account itself: its metadata, seats and risk score."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily

from kb4_exporter.metrics.families import CACHED, add_known, gauge
from kb4_exporter.model.reporting import Account


class AccountFamilies:
    def __init__(self) -> None:
        self.info = gauge(
            "kb4_account_info",
            f"KnowBe4 account metadata; always 1. {CACHED}",
            "name",
            "subscription_level",
            "region",
        )
        self.seats = gauge("kb4_account_seats", f"Licensed seats of the account. {CACHED}")
        self.risk_score = gauge(
            "kb4_account_risk_score", f"Current risk score of the account (0-100). {CACHED}"
        )

    def all(self) -> Iterator[GaugeMetricFamily]:
        yield from (self.info, self.seats, self.risk_score)

    def add(self, account: str, details: Account | None, region: str) -> None:
        """`details` None: the account was never read, so nothing is known of it."""
        if details is None:
            return
        self.info.add_metric([account, details.name, details.subscription_level or "", region], 1)
        add_known(self.seats, [account], details.seats)
        add_known(self.risk_score, [account], details.risk_score)
