"""Metric families of the bounded breakdowns: groups, recent PSTs, training, inventory,
risk trend and User Event API counts. Every per-item family is capped at a top N
(`kb4_breakdown_capped` says when items were left out), so cardinality stays fixed."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily

from kb4_exporter.kris.breakdowns import PST_EVENTS, Breakdowns

# What HELP says of how fresh a value is (DESIGN: cached, and how often refreshed).
CACHED = (
    "Cached by the exporter and refreshed in the background every --refresh.interval "
    "(24h by default), not per scrape."
)
CACHED_HOURLY = (
    "Cached by the exporter and refreshed in the background every "
    "--refresh.phisher-interval (1h by default), not per scrape."
)
_A = ("account",)


def _gauge(name: str, doc: str, *labels: str, note: str = CACHED) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, f"{doc} {note}", labels=[*_A, *labels])


class BreakdownFamilies:
    def __init__(self) -> None:
        group = ("group", "group_id")
        pst = ("pst_id", "pst", "campaign_id")
        campaign = ("campaign_id", "campaign")
        self.group_users = _gauge(
            "kb4_group_users", "Active users in the group (largest groups first).", *group
        )
        self.group_ppp = _gauge(
            "kb4_group_phishing_prone_ratio",
            "Mean Phish-prone Percentage of the group's active users, as a ratio (0..1).",
            *group,
        )
        self.group_risk = _gauge(
            "kb4_group_risk_score", "Current risk score of the group (0-100).", *group
        )
        self.capped = _gauge(
            "kb4_breakdown_capped",
            "1 when a breakdown left items out to keep within its series cap "
            "(--metrics.max-*), else 0.",
            "breakdown",
        )
        self.pst_events = _gauge(
            "kb4_phishing_test_recipients",
            "Recipients of a phishing security test started in the last 90 days, by event "
            "(delivered, opened, clicked, reported, data_entered), from its summary counts.",
            *pst,
            "event",
        )
        self.pst_ppp = _gauge(
            "kb4_phishing_test_phish_prone_ratio",
            "Phish-prone ratio (0..1) of a phishing security test started in the last 90 days.",
            *pst,
        )
        self.click_ratio = _gauge(
            "kb4_phishing_click_ratio_90d",
            "Clicked / delivered over phishing security tests started in the last 90 days.",
        )
        self.report_ratio = _gauge(
            "kb4_phishing_report_ratio_90d",
            "Reported / delivered over phishing security tests started in the last 90 days.",
        )
        self.enrollments = _gauge(
            "kb4_training_enrollments",
            "Training enrollments of non-archived users by status (every known status, "
            "zeros included; unknown statuses count as other).",
            "status",
        )
        self.campaign_completion = _gauge(
            "kb4_training_campaign_completion_ratio",
            "Completed or passed / non-exempt enrollments of a training campaign "
            "(campaigns with the most enrollments first).",
            *campaign,
        )
        self.campaign_overdue = _gauge(
            "kb4_training_campaign_overdue_enrollments",
            "Enrollments of a training campaign past their due date and not completed.",
            *campaign,
        )
        self.active_campaigns = _gauge(
            "kb4_training_campaigns_active",
            "Training campaigns not Completed, Cancelled or Closed.",
        )
        self.users = _gauge("kb4_users", "Users by status (active, archived).", "status")
        self.inventory = _gauge(
            "kb4_inventory_objects",
            "Objects in the account, for change alerts: groups, training_campaigns, "
            "training_modules (store purchases), policies (uploaded), phishing_campaigns, "
            "security_tests_90d.",
            "object",
        )
        self.risk_change = _gauge(
            "kb4_account_risk_score_change_30d",
            "Account risk score now minus 30 days ago, from the risk-score history.",
        )
        self.user_events = _gauge(
            "kb4_user_events_24h",
            "User Event API custom events that occurred in the last 24 hours, by event type "
            "(busiest types first) and risk level.",
            "event_type",
            "risk_level",
            note=CACHED_HOURLY,
        )

    def all(self) -> Iterator[GaugeMetricFamily]:
        yield from (
            self.group_users,
            self.group_ppp,
            self.group_risk,
            self.capped,
            self.pst_events,
            self.pst_ppp,
            self.click_ratio,
            self.report_ratio,
            self.enrollments,
            self.campaign_completion,
            self.campaign_overdue,
            self.active_campaigns,
            self.users,
            self.inventory,
            self.risk_change,
            self.user_events,
        )

    def add(self, account: str, b: Breakdowns) -> None:
        self._add_groups(account, b)
        self._add_phishing(account, b)
        self._add_training(account, b)
        self._add_inventory(account, b)
        if b.user_events is not None:
            for (event_type, level), count in sorted(b.user_events.items()):
                self.user_events.add_metric([account, event_type, level], count)
            capped = b.user_event_types_total > len({t for t, _ in b.user_events})
            self.capped.add_metric([account, "user_event_types"], 1.0 if capped else 0.0)

    def _add_groups(self, account: str, b: Breakdowns) -> None:
        if b.groups is None:
            return
        for g in b.groups:
            labels = [account, g.name, str(g.group_id)]
            self.group_users.add_metric(labels, g.users)
            if g.phishing_prone_ratio is not None:
                self.group_ppp.add_metric(labels, g.phishing_prone_ratio)
            if g.risk_score is not None:
                self.group_risk.add_metric(labels, g.risk_score)
        capped = b.groups_total > len(b.groups)
        self.capped.add_metric([account, "groups"], 1.0 if capped else 0.0)

    def _add_phishing(self, account: str, b: Breakdowns) -> None:
        if b.psts is not None:
            for t in b.psts:
                labels = [account, str(t.pst_id), t.name, _optional_id(t.campaign_id)]
                for event in PST_EVENTS:
                    self.pst_events.add_metric([*labels, event], t.counts.get(event, 0))
                if t.phishing_prone_ratio is not None:
                    self.pst_ppp.add_metric(labels, t.phishing_prone_ratio)
            capped = b.psts_total > len(b.psts)
            self.capped.add_metric([account, "phishing_tests"], 1.0 if capped else 0.0)
        if b.click_ratio_90d is not None:
            self.click_ratio.add_metric([account], b.click_ratio_90d)
        if b.report_ratio_90d is not None:
            self.report_ratio.add_metric([account], b.report_ratio_90d)

    def _add_training(self, account: str, b: Breakdowns) -> None:
        if b.enrollments_by_status is not None:
            for status, count in b.enrollments_by_status.items():
                self.enrollments.add_metric([account, status], count)
        if b.campaigns is not None:
            for c in b.campaigns:
                labels = [account, str(c.campaign_id), c.name]
                if c.completion_ratio is not None:
                    self.campaign_completion.add_metric(labels, c.completion_ratio)
                self.campaign_overdue.add_metric(labels, c.overdue)
            capped = b.campaigns_total > len(b.campaigns)
            self.capped.add_metric([account, "training_campaigns"], 1.0 if capped else 0.0)
        if b.active_training_campaigns is not None:
            self.active_campaigns.add_metric([account], b.active_training_campaigns)

    def _add_inventory(self, account: str, b: Breakdowns) -> None:
        for key, count in sorted(b.inventory.items()):
            if key.startswith("users_"):
                self.users.add_metric([account, key.removeprefix("users_")], count)
            else:
                self.inventory.add_metric([account, key], count)
        if b.risk_score_change_30d is not None:
            self.risk_change.add_metric([account], b.risk_score_change_30d)


def _optional_id(value: int | None) -> str:
    return "" if value is None else str(value)
