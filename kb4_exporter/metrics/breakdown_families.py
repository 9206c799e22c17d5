"""Metric families of the bounded breakdowns: groups, recent PSTs, training, inventory,
risk trend and User Event API counts, each breakdown filled by its own class. Every
per-item family is capped at a top N (`kb4_breakdown_capped` says when items were left
out), so cardinality stays fixed."""

from __future__ import annotations

from collections.abc import Iterator, Sized

from prometheus_client.core import GaugeMetricFamily

from kb4_exporter.kris.breakdowns import PST_EVENTS, Breakdowns
from kb4_exporter.metrics.families import CACHED, CACHED_HOURLY, add_known, flag, gauge


def _cached_gauge(name: str, doc: str, *labels: str, note: str = CACHED) -> GaugeMetricFamily:
    return gauge(name, f"{doc} {note}", *labels)


class CappedFlags:
    """`kb4_breakdown_capped`: whether each capped breakdown left items out."""

    def __init__(self) -> None:
        self.family = _cached_gauge(
            "kb4_breakdown_capped",
            "1 when a breakdown left items out to keep within its series cap "
            "(--metrics.max-*), else 0.",
            "breakdown",
        )

    def add(self, account: str, breakdown: str, shown: Sized, total: int) -> None:
        self.family.add_metric([account, breakdown], flag(total > len(shown)))


class GroupFamilies:
    """The largest groups: active users, mean Phish-prone ratio, risk score."""

    def __init__(self, capped: CappedFlags) -> None:
        self._capped = capped
        group = ("group", "group_id")
        self.users = _cached_gauge(
            "kb4_group_users", "Active users in the group (largest groups first).", *group
        )
        self.phishing_prone_ratio = _cached_gauge(
            "kb4_group_phishing_prone_ratio",
            "Mean Phish-prone Percentage of the group's active users, as a ratio (0..1).",
            *group,
        )
        self.risk_score = _cached_gauge(
            "kb4_group_risk_score", "Current risk score of the group (0-100).", *group
        )

    def all(self) -> Iterator[GaugeMetricFamily]:
        yield from (self.users, self.phishing_prone_ratio, self.risk_score)

    def add(self, account: str, b: Breakdowns) -> None:
        if b.groups is None:
            return
        for g in b.groups:
            labels = [account, g.name, str(g.group_id)]
            self.users.add_metric(labels, g.users)
            add_known(self.phishing_prone_ratio, labels, g.phishing_prone_ratio)
            add_known(self.risk_score, labels, g.risk_score)
        self._capped.add(account, "groups", b.groups, b.groups_total)


class PhishingTestFamilies:
    """The most recent PSTs' recipients by event and Phish-prone ratio, and the click and
    report ratios over the last 90 days."""

    def __init__(self, capped: CappedFlags) -> None:
        self._capped = capped
        pst = ("pst_id", "pst", "campaign_id")
        self.recipients = _cached_gauge(
            "kb4_phishing_test_recipients",
            "Recipients of a phishing security test started in the last 90 days, by event "
            "(delivered, opened, clicked, reported, data_entered), from its summary counts.",
            *pst,
            "event",
        )
        self.phish_prone_ratio = _cached_gauge(
            "kb4_phishing_test_phish_prone_ratio",
            "Phish-prone ratio (0..1) of a phishing security test started in the last 90 days.",
            *pst,
        )
        self.click_ratio = _cached_gauge(
            "kb4_phishing_click_ratio_90d",
            "Clicked / delivered over phishing security tests started in the last 90 days.",
        )
        self.report_ratio = _cached_gauge(
            "kb4_phishing_report_ratio_90d",
            "Reported / delivered over phishing security tests started in the last 90 days.",
        )

    def all(self) -> Iterator[GaugeMetricFamily]:
        yield from (self.recipients, self.phish_prone_ratio, self.click_ratio, self.report_ratio)

    def add(self, account: str, b: Breakdowns) -> None:
        if b.psts is not None:
            for t in b.psts:
                labels = [account, str(t.pst_id), t.name, _optional_id(t.campaign_id)]
                for event in PST_EVENTS:
                    self.recipients.add_metric([*labels, event], t.counts.get(event, 0))
                add_known(self.phish_prone_ratio, labels, t.phishing_prone_ratio)
            self._capped.add(account, "phishing_tests", b.psts, b.psts_total)
        add_known(self.click_ratio, [account], b.click_ratio_90d)
        add_known(self.report_ratio, [account], b.report_ratio_90d)


class TrainingFamilies:
    """Enrollments by status, the largest campaigns' completion and overdue enrollments,
    and how many campaigns are still running."""

    def __init__(self, capped: CappedFlags) -> None:
        self._capped = capped
        campaign = ("campaign_id", "campaign")
        self.enrollments = _cached_gauge(
            "kb4_training_enrollments",
            "Training enrollments of non-archived users by status (every known status, "
            "zeros included; unknown statuses count as other).",
            "status",
        )
        self.campaign_completion = _cached_gauge(
            "kb4_training_campaign_completion_ratio",
            "Completed or passed / non-exempt enrollments of a training campaign "
            "(campaigns with the most enrollments first).",
            *campaign,
        )
        self.campaign_overdue = _cached_gauge(
            "kb4_training_campaign_overdue_enrollments",
            "Enrollments of a training campaign past their due date and not completed.",
            *campaign,
        )
        self.active_campaigns = _cached_gauge(
            "kb4_training_campaigns_active",
            "Training campaigns not Completed, Cancelled or Closed.",
        )

    def all(self) -> Iterator[GaugeMetricFamily]:
        yield from (
            self.enrollments,
            self.campaign_completion,
            self.campaign_overdue,
            self.active_campaigns,
        )

    def add(self, account: str, b: Breakdowns) -> None:
        if b.enrollments_by_status is not None:
            for status, count in b.enrollments_by_status.items():
                self.enrollments.add_metric([account, status], count)
        if b.campaigns is not None:
            for c in b.campaigns:
                labels = [account, str(c.campaign_id), c.name]
                add_known(self.campaign_completion, labels, c.completion_ratio)
                self.campaign_overdue.add_metric(labels, c.overdue)
            self._capped.add(account, "training_campaigns", b.campaigns, b.campaigns_total)
        add_known(self.active_campaigns, [account], b.active_training_campaigns)


class InventoryFamilies:
    """Users by status, object counts for change alerts, and the risk score's 30-day trend."""

    def __init__(self) -> None:
        self.users = _cached_gauge("kb4_users", "Users by status (active, archived).", "status")
        self.objects = _cached_gauge(
            "kb4_inventory_objects",
            "Objects in the account, for change alerts: groups, training_campaigns, "
            "training_modules (store purchases), policies (uploaded), phishing_campaigns, "
            "security_tests_90d.",
            "object",
        )
        self.risk_change = _cached_gauge(
            "kb4_account_risk_score_change_30d",
            "Account risk score now minus 30 days ago, from the risk-score history.",
        )

    def all(self) -> Iterator[GaugeMetricFamily]:
        yield from (self.users, self.objects, self.risk_change)

    def add(self, account: str, b: Breakdowns) -> None:
        for key, count in sorted(b.inventory.items()):
            if key.startswith("users_"):
                self.users.add_metric([account, key.removeprefix("users_")], count)
            else:
                self.objects.add_metric([account, key], count)
        add_known(self.risk_change, [account], b.risk_score_change_30d)


class UserEventFamilies:
    """The busiest User Event API event types of the last 24 hours, by risk level."""

    def __init__(self, capped: CappedFlags) -> None:
        self._capped = capped
        self.counts = _cached_gauge(
            "kb4_user_events_24h",
            "User Event API custom events that occurred in the last 24 hours, by event type "
            "(busiest types first) and risk level.",
            "event_type",
            "risk_level",
            note=CACHED_HOURLY,
        )

    def all(self) -> Iterator[GaugeMetricFamily]:
        yield self.counts

    def add(self, account: str, b: Breakdowns) -> None:
        if b.user_events is None:
            return
        for (event_type, level), count in sorted(b.user_events.items()):
            self.counts.add_metric([account, event_type, level], count)
        shown_types = {event_type for event_type, _ in b.user_events}
        self._capped.add(account, "user_event_types", shown_types, b.user_event_types_total)


class BreakdownFamilies:
    """Every breakdown's families, in exposition order."""

    def __init__(self) -> None:
        self.capped = CappedFlags()
        self.groups = GroupFamilies(self.capped)
        self.phishing_tests = PhishingTestFamilies(self.capped)
        self.training = TrainingFamilies(self.capped)
        self.inventory = InventoryFamilies()
        self.user_events = UserEventFamilies(self.capped)

    def all(self) -> Iterator[GaugeMetricFamily]:
        yield from self.groups.all()
        yield self.capped.family
        yield from self.phishing_tests.all()
        yield from self.training.all()
        yield from self.inventory.all()
        yield from self.user_events.all()

    def add(self, account: str, b: Breakdowns) -> None:
        # The order of the capped flags: groups, phishing tests, training, user events.
        self.groups.add(account, b)
        self.phishing_tests.add(account, b)
        self.training.add(account, b)
        self.inventory.add(account, b)
        self.user_events.add(account, b)


def _optional_id(value: int | None) -> str:
    return "" if value is None else str(value)
