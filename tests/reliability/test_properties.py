"""Property-based tests: arbitrary input never crashes, KRIs stay in range, order never matters.

- Arbitrary JSON from any Reporting endpoint or PhishER (served with requests-mock) never
  makes a refresh raise: a failure is one of the known reasons and shows in /metrics.
- Whatever the data, every KRI is absent or within its range: ratios 0..1, counts whole
  and >= 0, seconds >= 0.
- Permuting the order of users, groups, enrollments, campaigns, PSTs, recipients or
  PhishER messages never changes a KRI, not even in the last bit.
- Any corruption of a state file is logged and ignored, never fatal, and what loads renders.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import kb4_fakes as fakes
import pytest
import requests_mock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.exposition import generate_latest

from kb4_exporter.api.errors import REASONS
from kb4_exporter.commands.runtimes import build_registry
from kb4_exporter.config.settings import Settings
from kb4_exporter.kris.enrollments import tally_enrollments
from kb4_exporter.kris.specs import KriValue
from kb4_exporter.kris.values import compute_kris
from kb4_exporter.model.phisher import PhisherMessage
from kb4_exporter.model.reporting import (
    Enrollment,
    Group,
    PstRecipients,
    Recipient,
    SecurityTest,
    TrainingCampaign,
    User,
)
from kb4_exporter.model.snapshot import Snapshot
from kb4_exporter.persistence.state_file import read_state, state_path
from kb4_exporter.refresh.wiring import AccountRuntime
from reliability import strategies
from reliability.harness import Scrape

T = TypeVar("T")
NOW = fakes.NOW
REMEDIAL = re.compile("remedial", re.IGNORECASE)
RATIO_KRIS = frozenset(
    {
        "kb4_phishing_prone_pct",
        "kb4_training_completion_pct",
        "kb4_remedial_training_compliance_pct",
        "kb4_department_ppp_delta_pct",
    }
)
SECONDS_KRIS = frozenset({"kb4_phish_time_to_report_hours"})
REPORTING_ENDPOINTS = {
    "account": "/v1/account",
    "users": "/v1/users",
    "groups": "/v1/groups",
    "training_campaigns": "/v1/training/campaigns",
    "enrollments": "/v1/training/enrollments",
    "security_tests": "/v1/phishing/security_tests",
    "phishing_campaigns": "/v1/phishing/campaigns",
    "store_purchases": "/v1/training/store_purchases",
    "policies": "/v1/training/policies",
    "risk_history": "/v1/account/risk_score_history",
    "recipients": "RECIPIENTS",
}
RECIPIENTS_URL = re.compile(
    re.escape(fakes.BASE_URL) + r"/v1/phishing/security_tests/[^/]+/recipients"
)
# Moderate by default so the suite stays fast; raise for a deeper search, e.g.
# KB4_RELIABILITY_EXAMPLES=2000 .venv/bin/pytest tests/reliability/test_properties.py
EXAMPLES = int(os.environ.get("KB4_RELIABILITY_EXAMPLES", "60"))
FAST = settings(max_examples=EXAMPLES, deadline=None)


def assert_in_range(kris: Sequence[KriValue]) -> None:
    for kri in kris:
        if kri.sample_size is not None:
            assert kri.sample_size >= 0, kri
        if kri.value is None:
            continue
        assert math.isfinite(kri.value), kri
        if kri.spec.slug in RATIO_KRIS:
            assert 0.0 <= kri.value <= 1.0, kri
        elif kri.spec.slug in SECONDS_KRIS:
            assert kri.value >= 0.0, kri
        else:
            assert kri.value >= 0.0 and kri.value.is_integer(), kri


# --- arbitrary JSON through the whole refresh ----------------------------------------------


@FAST
@given(
    bodies=st.dictionaries(
        st.sampled_from(sorted(REPORTING_ENDPOINTS)), strategies.page_bodies(), min_size=1
    ),
    phisher_body=st.none() | strategies.phisher_bodies(),
)
def test_arbitrary_json_never_crashes_a_refresh(bodies: dict[str, Any], phisher_body: Any) -> None:
    clock = fakes.FakeClock()
    with requests_mock.Mocker() as mocker:
        fakes.serve_org(mocker, fakes.small_org())
        for source, body in bodies.items():
            path = REPORTING_ENDPOINTS[source]
            url: Any = RECIPIENTS_URL if path == "RECIPIENTS" else fakes.BASE_URL + path
            mocker.get(url, json=body)
        if phisher_body is not None:
            mocker.post(fakes.PHISHER_URL, json=phisher_body)
        runtime = fakes.runtime_for(clock)
        runtime.refresher.refresh_core()
        runtime.refresher.refresh_phisher()
    results = runtime.refresher.results
    assert {reason for _, reason in results.errors} <= set(REASONS)
    scrape = Scrape(generate_latest(build_registry([runtime])).decode())
    assert {key for key in scrape.refresh_errors()} == set(results.errors)
    assert_in_range(results.kris)


# --- KRIs of valid snapshots ----------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    """Records as the API lists them, before the refresher builds a snapshot."""

    users: Sequence[User]
    groups: Sequence[Group]
    campaigns: Sequence[TrainingCampaign]
    enrollments: Sequence[Enrollment]
    tests: Sequence[SecurityTest]
    recipients: dict[int, Sequence[Recipient]]
    messages: Sequence[PhisherMessage]

    def snapshot(self) -> Snapshot:
        return Snapshot(
            users=tuple(self.users),
            groups=tuple(self.groups),
            security_tests=tuple(self.tests),
            recipients={
                pst_id: PstRecipients.summarise(pst_id, list(rows))
                for pst_id, rows in self.recipients.items()
            },
            training_campaigns=tuple(self.campaigns),
            enrollments=tally_enrollments(self.enrollments, self.campaigns, NOW),
            phisher_messages=tuple(self.messages),
        )


@st.composite
def inputs(draw: st.DrawFn) -> Inputs:
    user_ids = draw(st.lists(st.integers(1, 10**6), unique=True, max_size=25))
    pst_ids = draw(st.lists(st.integers(1, 10**6), unique=True, max_size=5))
    campaign_ids = draw(st.lists(st.integers(1, 4), unique=True, max_size=4))
    tests = [draw(strategies.security_tests(NOW, pst_id)) for pst_id in pst_ids]
    return Inputs(
        users=[draw(strategies.users(NOW, st.just(uid))) for uid in user_ids],
        groups=draw(st.lists(strategies.groups(), max_size=6, unique_by=lambda g: g.id)),
        campaigns=[draw(strategies.training_campaigns(NOW, cid)) for cid in campaign_ids],
        enrollments=draw(st.lists(strategies.enrollments(NOW), max_size=30)),
        tests=tests,
        recipients={
            test.pst_id: draw(st.lists(strategies.recipients(NOW), max_size=12))
            for test in tests
            if draw(st.booleans())
        },
        messages=draw(st.lists(strategies.phisher_messages(NOW), max_size=15)),
    )


def kris_of(snapshot: Snapshot, now: float = NOW) -> tuple[KriValue, ...]:
    return compute_kris(snapshot, now, remedial_pattern=REMEDIAL, phisher_enabled=True)


@FAST
@given(
    data=inputs(),
    never_fetched=st.sets(
        st.sampled_from(
            ["users", "groups", "security_tests", "recipients", "training_campaigns", "enrollments"]
        )
    ),
    later=st.floats(min_value=0, max_value=400 * 86400.0),
)
def test_kris_stay_in_range(data: Inputs, never_fetched: set[str], later: float) -> None:
    snapshot = data.snapshot()
    fields = {name: None for name in never_fetched}
    from dataclasses import replace

    assert_in_range(kris_of(replace(snapshot, **fields), NOW + later))


def _permuted(draw: st.DataObject, items: Sequence[T]) -> list[T]:
    return draw.draw(st.permutations(list(items)))


@FAST
@given(data=inputs(), draw=st.data())
def test_permuting_input_order_never_changes_a_kri(data: Inputs, draw: st.DataObject) -> None:
    shuffled = Inputs(
        users=_permuted(draw, data.users),
        groups=_permuted(draw, data.groups),
        campaigns=_permuted(draw, data.campaigns),
        enrollments=_permuted(draw, data.enrollments),
        tests=_permuted(draw, data.tests),
        recipients={
            pst_id: _permuted(draw, rows)
            for pst_id, rows in reversed(list(data.recipients.items()))
        },
        messages=_permuted(draw, data.messages),
    )
    assert kris_of(shuffled.snapshot()) == kris_of(data.snapshot())


# --- state file corruption ------------------------------------------------------------------


@pytest.fixture(scope="module")
def state_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


def runtime_with_state(directory: Path) -> AccountRuntime:
    account = fakes.account_config()
    settings_ = Settings(accounts=(account,), state_dir=str(directory))
    return fakes.runtime_for(fakes.FakeClock(), settings=settings_, account=account)


@pytest.fixture(scope="module")
def valid_state(state_dir: Path) -> list[str]:
    """The lines of a real state file of the small org, after one full refresh."""
    with requests_mock.Mocker() as mocker:
        fakes.serve_org(mocker, fakes.small_org())
        runtime = runtime_with_state(state_dir)
        runtime.refresher.refresh_core()
        runtime.refresher.refresh_phisher()
        runtime.save_state()
    path = state_path(str(state_dir), "acme")
    return path.read_text().splitlines()


def _edit_inside(line: str, position: int, value: Any) -> str:
    try:
        row = json.loads(line)
    except ValueError:
        return line  # already broken by an earlier edit
    if isinstance(row, list) and row:
        target = row[1] if len(row) > 1 and isinstance(row[1], list) and row[1] else row
        target[position % len(target)] = value
    elif isinstance(row, dict) and row:
        row[sorted(row)[position % len(row)]] = value
    return json.dumps(row)


@st.composite
def corrupted(draw: st.DrawFn, lines: list[str]) -> str:
    lines = list(lines)
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["value", "line", "drop", "cut", "bytes"]))
        if how == "value":
            value = draw(strategies.json_values(4) | st.sampled_from([1e400, -1e400, 10**400]))
            lines[index] = _edit_inside(lines[index], draw(st.integers(0, 20)), value)
        elif how == "line":
            lines[index] = json.dumps(draw(strategies.json_values(6)))
        elif how == "drop":
            del lines[index]
            if not lines:
                break
        elif how == "cut":
            lines[index] = lines[index][: draw(st.integers(0, len(lines[index])))]
        else:
            lines[index] = draw(st.text(max_size=20))
    return "\n".join(lines) + "\n"


@settings(
    max_examples=EXAMPLES * 2, deadline=None, suppress_health_check=[HealthCheck.data_too_large]
)
@given(draw=st.data())
def test_any_corruption_of_the_state_file_is_never_fatal(
    valid_state: list[str], state_dir: Path, draw: st.DataObject
) -> None:
    path = state_path(str(state_dir), "acme")
    path.write_text(draw.draw(corrupted(valid_state)))
    state = read_state(path, "acme")
    runtime = runtime_with_state(state_dir)
    assert runtime.load_state() == (state is not None)
    Scrape(generate_latest(build_registry([runtime])).decode())
