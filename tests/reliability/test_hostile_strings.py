"""Hostile strings from KnowBe4: lone UTF-16 surrogates (valid JSON: "\\ud800"), NUL and
other control characters in every name that becomes a label value.

They are sanitised where they enter, at parse time and again when a state file is
loaded, so the exposition is always valid UTF-8 that Prometheus' parsers accept: in
`serve` (text and OpenMetrics), in `once`, and after a restart from a poisoned file.
"""

from __future__ import annotations

import json
import subprocess
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from kb4_fakes import NOW, FakeOrg, iso, small_org
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from support.debian_tools import find_prometheus_tools

from kb4_exporter.commands.once import refresh_once
from kb4_exporter.config.settings import Settings
from kb4_exporter.persistence.state_file import state_path
from reliability.harness import Exporter, Scrape, start_hostile_exporter
from reliability.hostile_upstream import AlarmClock, HostileUpstream

LONE_HIGH = "\ud800"
LONE_LOW = "\udfff"
REPLACEMENT = "\ufffd"


def hostile_org() -> FakeOrg:
    org = small_org(NOW)
    org.account["name"] = f"Acme{LONE_LOW}\x00"
    org.account["subscription_level"] = "Diamond\x1b[2J"
    org.groups[0]["name"] = f"Sales{LONE_HIGH}\x00"
    org.groups[1]["name"] = "Engi\nneering\r\t\x7f\x85"
    org.security_tests[0]["name"] = f"PST{LONE_HIGH}{LONE_HIGH} 11\x07"
    org.training_campaigns[0]["name"] = f"Annual\x00Training{LONE_LOW}"
    return org


def hostile_events(now: float = NOW) -> list[dict[str, object]]:
    return [
        {
            "event_type": {"name": f"login{LONE_HIGH}\x00"},
            "risk": {"level": 3},
            "occurred_date": iso(now - 3600),
        }
    ]


@pytest.fixture
def upstream() -> Iterator[HostileUpstream]:
    with HostileUpstream(hostile_org(), AlarmClock(NOW), user_events=hostile_events()) as up:
        yield up


def hostile_exporter(upstream: HostileUpstream, state_dir: Path | None = None) -> Exporter:
    return start_hostile_exporter(upstream, state_dir=state_dir)


def label_values(scrape: Scrape) -> list[str]:
    return [
        value
        for family_samples in scrape.all_series().values()
        for labels, _ in family_samples
        for value in labels.values()
    ]


def assert_clean(values: list[str]) -> None:
    bad = [v for v in values if any(unicodedata.category(c) in ("Cs", "Cc") for c in v)]
    assert bad == []


def assert_sanitised_breakdowns(scrape: Scrape) -> None:
    """The planted names, with each surrogate or control character replaced."""
    info = {
        "account": "acme",
        "name": f"Acme{REPLACEMENT}{REPLACEMENT}",
        "subscription_level": f"Diamond{REPLACEMENT}[2J",
        "region": "us",
    }
    assert scrape.value("kb4_account_info", **info) == 1
    group = {"account": "acme", "group_id": "100"}
    assert scrape.value("kb4_group_users", group=f"Sales{REPLACEMENT}{REPLACEMENT}", **group) == 2
    engineering = {"account": "acme", "group_id": "200"}
    name = f"Engi neering  {REPLACEMENT}{REPLACEMENT}"
    assert scrape.value("kb4_group_users", group=name, **engineering) == 3
    pst = f"PST{REPLACEMENT}{REPLACEMENT} 11{REPLACEMENT}"
    labels = {"account": "acme", "pst_id": "11", "pst": pst, "campaign_id": "1"}
    assert scrape.value("kb4_phishing_test_recipients", event="clicked", **labels) == 2
    campaign = f"Annual{REPLACEMENT}Training{REPLACEMENT}"
    assert (
        scrape.value(
            "kb4_training_campaign_overdue_enrollments",
            account="acme",
            campaign_id="7",
            campaign=campaign,
        )
        == 1
    )
    assert (
        scrape.value(
            "kb4_user_events_24h",
            account="acme",
            event_type=f"login{REPLACEMENT}{REPLACEMENT}",
            risk_level="3",
        )
        == 1
    )


def test_hostile_names_render_as_valid_text_and_openmetrics(upstream: HostileUpstream) -> None:
    exporter = hostile_exporter(upstream)
    exporter.refresh()

    scrape = exporter.scrape()
    assert_clean(label_values(scrape))
    assert_sanitised_breakdowns(scrape)
    body = exporter.exposition.render("application/openmetrics-text; version=1.0.0")
    assert body.content_type.startswith("application/openmetrics-text")
    families = list(openmetrics_families(body.data.decode("utf-8")))
    assert any(f.name == "kb4_account_info" for f in families)
    _promtool_accepts(scrape.text)


def test_hostile_names_never_break_once(upstream: HostileUpstream) -> None:
    # `once` runs on the wall clock: the event must be of the last day by that clock.
    upstream.user_events = hostile_events(time.time())
    settings = Settings(accounts=(upstream.account(),))

    body, failures = refresh_once(settings)

    assert failures == []
    scrape = Scrape(body.decode("utf-8"))
    assert_clean(label_values(scrape))
    assert_sanitised_breakdowns(scrape)


# Record kind -> where its name is in the record's list of field values.
NAME_FIELDS = {"account": 0, "group": 1, "security_test": 2, "training_campaign": 1}


def _poison(path: Path) -> None:
    """Plant raw surrogates and control characters in every name of a saved state file."""
    poisoned = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if isinstance(row, list) and row and row[0] in NAME_FIELDS:
            row[1][NAME_FIELDS[row[0]]] += f"{LONE_HIGH}\x00\x1b"
        poisoned.append(json.dumps(row))
    path.write_text("\n".join(poisoned) + "\n", encoding="utf-8")


def test_poisoned_state_file_is_sanitised_on_load(
    upstream: HostileUpstream, tmp_path: Path
) -> None:
    upstream.org = small_org(NOW)
    upstream.user_events = []
    first = hostile_exporter(upstream, state_dir=tmp_path)
    first.refresh()
    first.close()
    _poison(state_path(str(tmp_path), "acme"))

    restarted = hostile_exporter(upstream, state_dir=tmp_path)
    assert restarted.runtime.load_state()

    scrape = restarted.scrape()
    assert_clean(label_values(scrape))
    suffix = f"{REPLACEMENT}{REPLACEMENT}{REPLACEMENT}"
    assert (
        scrape.value("kb4_group_users", account="acme", group=f"Sales{suffix}", group_id="100") == 2
    )
    info = {"account": "acme", "name": f"Acme{suffix}", "subscription_level": "Diamond"}
    assert scrape.value("kb4_account_info", region="us", **info) == 1
    labels = {"account": "acme", "pst_id": "11", "pst": f"PST 11{suffix}", "campaign_id": "1"}
    assert scrape.value("kb4_phishing_test_recipients", event="clicked", **labels) == 2
    _promtool_accepts(scrape.text)


def _promtool_accepts(text: str) -> None:
    """`promtool check metrics` reads the exposition without a parse error, if installed."""
    tools = find_prometheus_tools()
    if tools is None:
        return
    checked = subprocess.run(
        [str(tools.promtool), "check", "metrics"],
        input=text.encode("utf-8"),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert b"parsing error" not in checked.stdout + checked.stderr
    assert checked.returncode == 0, checked.stdout + checked.stderr
