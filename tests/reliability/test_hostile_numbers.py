"""Hostile numbers from KnowBe4: negative counts, scores and percentages far out of their
range, counts that contradict each other, and records listed twice.

Counts are whole and never negative, ratios stay within 0..1 (README), scores within
0..100, and a record the API lists twice (a page boundary that moved while paging) counts
once: users, groups, PSTs, campaigns and enrollments by their ids, recipients by theirs.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kb4_fakes import NOW, small_org

from kb4_exporter.persistence.state_file import state_path
from reliability.harness import Scrape, start_hostile_exporter
from reliability.hostile_upstream import AlarmClock, HostileUpstream

ACCOUNT = {"account": "acme"}
RATIOS = (
    "kb4_phishing_prone_ratio",
    "kb4_training_completion_ratio",
    "kb4_remedial_training_compliance_ratio",
    "kb4_department_ppp_delta_ratio",
    "kb4_group_phishing_prone_ratio",
    "kb4_phishing_test_phish_prone_ratio",
    "kb4_phishing_click_ratio_90d",
    "kb4_phishing_report_ratio_90d",
    "kb4_training_campaign_completion_ratio",
)
SCORES = ("kb4_account_risk_score", "kb4_group_risk_score")
COUNTS = (
    "kb4_phishing_test_recipients",
    "kb4_account_seats",
    "kb4_users",
    "kb4_group_users",
    "kb4_training_enrollments",
    "kb4_high_risk_users",
    "kb4_repeat_clickers_90d",
    "kb4_zero_training_activity_12m",
    "kb4_overdue_training_assignments",
)


@pytest.fixture
def upstream() -> Iterator[HostileUpstream]:
    with HostileUpstream(small_org(NOW), AlarmClock(NOW)) as up:
        yield up


def scrape_after_refresh(upstream: HostileUpstream) -> Scrape:
    exporter = start_hostile_exporter(upstream)
    exporter.refresh()
    try:
        return exporter.scrape()
    finally:
        exporter.close()


def values(scrape: Scrape, name: str) -> list[float]:
    return [value for _, value in scrape.series(name)]


def test_numbers_out_of_range_are_never_exported(upstream: HostileUpstream) -> None:
    org = upstream.org
    org.account["current_risk_score"] = -50.0
    org.groups[0]["current_risk_score"] = 1e300
    pst = org.security_tests[0]
    pst["phish_prone_percentage"] = 1e300
    pst["delivered_count"] = -3
    pst["opened_count"] = 10**400
    org.security_tests[1].update({"delivered_count": 1, "clicked_count": 9, "reported_count": 7})
    org.risk_history[-1]["risk_score"] = 1e300

    scrape = scrape_after_refresh(upstream)

    for name in RATIOS:
        assert all(0.0 <= v <= 1.0 for v in values(scrape, name)), name
    for name in SCORES:
        assert all(0.0 <= v <= 100.0 for v in values(scrape, name)), name
    for name in COUNTS:
        assert all(v >= 0 and v == math.floor(v) for v in values(scrape, name)), name
    assert scrape.value("kb4_account_risk_score", **ACCOUNT) is None
    assert scrape.value("kb4_group_risk_score", group="Sales", group_id="100", **ACCOUNT) is None
    pst_labels = {"pst_id": "11", "pst": "PST 11", "campaign_id": "1", **ACCOUNT}
    assert scrape.value("kb4_phishing_test_phish_prone_ratio", **pst_labels) is None
    assert scrape.value("kb4_phishing_test_recipients", event="delivered", **pst_labels) == 0
    assert scrape.value("kb4_phishing_test_recipients", event="clicked", **pst_labels) == 2
    # 9 clicks and 7 reports of 1 + 3 delivered e-mails: the counts contradict each other.
    assert scrape.value("kb4_phishing_click_ratio_90d", **ACCOUNT) == 1.0


def listed_again(rows: list[dict[str, Any]], *indexes: int) -> list[dict[str, Any]]:
    """`rows` with copies of some of them at the end, as a shifted page boundary lists them."""
    return [*rows, *(copy.deepcopy(rows[index]) for index in indexes)]


def test_records_listed_twice_count_once(upstream: HostileUpstream) -> None:
    clean = scrape_after_refresh(upstream)
    org = upstream.org
    for number, enrollment in enumerate(org.enrollments):
        enrollment["enrollment_id"] = 500 + number
    org.users = listed_again(org.users, 0, 3)
    org.groups = listed_again(org.groups, 1)
    org.security_tests = listed_again(org.security_tests, 0)
    org.training_campaigns = listed_again(org.training_campaigns, 1)
    org.enrollments = listed_again(org.enrollments, 2)
    for pst_id, rows in org.recipients.items():
        for number, row in enumerate(rows):
            row["recipient_id"] = pst_id * 100 + number
        org.recipients[pst_id] = listed_again(rows, -1)

    doubled = scrape_after_refresh(upstream)

    assert doubled.kris() == clean.kris()
    for name in ("kb4_kri_sample_size", "kb4_users", "kb4_group_users", "kb4_inventory_objects"):
        assert doubled.series(name) == clean.series(name), name
    assert doubled.series("kb4_training_enrollments") == clean.series("kb4_training_enrollments")
    assert clean.value("kb4_kri_sample_size", kri="kb4_phish_time_to_report_hours", **ACCOUNT) == 2


# Record kind -> (field index, value the API parsers would never let through).
OUT_OF_RANGE = {
    "account": (3, 1e300),  # risk score
    "group": (3, -50.0),  # risk score
    "user": (1, 250.0),  # phish-prone percentage
    "enrollment_group": (6, -3),  # count
}


@pytest.mark.parametrize("kind", list(OUT_OF_RANGE))
def test_numbers_out_of_range_in_a_state_file_are_refused(
    upstream: HostileUpstream, tmp_path: Path, kind: str
) -> None:
    first = start_hostile_exporter(upstream, state_dir=tmp_path)
    first.refresh()
    path = state_path(str(tmp_path), "acme")
    lines = path.read_text().splitlines()
    index, value = OUT_OF_RANGE[kind]
    for number, line in enumerate(lines):
        row = json.loads(line)
        if isinstance(row, list) and row[0] == kind:
            row[1][index] = value
            lines[number] = json.dumps(row)
            break
    else:
        raise AssertionError(f"no {kind} line in the state file")
    path.write_text("\n".join(lines) + "\n")

    restarted = start_hostile_exporter(upstream, state_dir=tmp_path)

    assert not restarted.runtime.load_state()
    assert set(restarted.scrape().kris().values()) == {None}
