"""Render the org's records as the Reporting API's JSON objects, quirks included.

Field names and shapes follow the real API (see knowbe4-api.md): `landing_page` with an
underscore on PSTs, `qr_code_scanned` without `_at` on recipients, training content
nested as `[[...]]`, `store_purchased_id` on the store-purchase listing but
`store_purchase_id` inside campaign content, and `campaign_id` / `store_purchase_id` /
`employee_number` on enrollments only when asked for. Cosmetic fields are derived
from ids so they cost no memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .clock import DAY, iso, iso_date, iso_or_none
from .dice import Dice
from .org import Org
from .records import (
    Content,
    Enrollment,
    Group,
    GroupRef,
    NamedRef,
    PhishingCampaign,
    Policy,
    Recipient,
    RiskPoint,
    SecurityTest,
    StorePurchase,
    TrainingCampaign,
    User,
)

Json = dict[str, Any]

_BROWSERS = (("Chrome", "126.0"), ("Edge", "125.0"), ("Firefox", "127.0"), ("Safari", "17.5"))
_SYSTEMS = ("Windows 10", "MacOSX", "iOS", "Android")
_CITIES = ("Chicago, IL", "Lisbon, PT", "Austin, TX", "Singapore, SG")


def account(org: Org) -> Json:
    acc = org.account
    body: Json = {
        "name": acc.name,
        "type": acc.type,
        "domains": list(acc.domains),
        "admins": [
            {"id": a.id, "first_name": a.first_name, "last_name": a.last_name, "email": a.email}
            for a in acc.admins
        ],
    }
    # Trial accounts have no subscription fields at all.
    if acc.subscription_level is not None:
        body["subscription_level"] = acc.subscription_level
        body["subscription_end_date"] = (
            None if acc.subscription_end_date is None else iso_date(acc.subscription_end_date)
        )
        body["number_of_seats"] = acc.number_of_seats
    body["current_risk_score"] = acc.current_risk_score
    return body


def risk_point(point: RiskPoint) -> Json:
    return {"risk_score": point.risk_score, "date": iso_date(point.date)}


def user(row: User, seed: int) -> Json:
    dice = Dice(seed, 90, row.id)
    index = (row.id - 600_000) // 3
    domain = row.email.partition("@")[2]
    manager = None if index == 0 else f"manager{index % 50}@{domain}"
    return {
        "id": row.id,
        "employee_number": str(10_000 + index),
        "first_name": row.first_name,
        "last_name": row.last_name,
        "job_title": row.job_title,
        "email": row.email,
        "phish_prone_percentage": row.phish_prone_percentage,
        "phone_number": f"555-{100 + index % 900:03d}-{dice.below(0, 10_000):04d}",
        "extension": str(dice.below(1, 900) + 100),
        "mobile_phone_number": None,
        "location": row.location,
        "division": row.department,
        "manager_name": None if manager is None else f"Manager {index % 50}",
        "manager_email": manager,
        "provisioning_managed": index % 4 == 0,
        "provisioning_guid": f"{row.id:08x}-0000-4000-8000-{seed % (1 << 48):012x}"
        if index % 4 == 0
        else None,
        "groups": list(row.groups),
        "current_risk_score": row.current_risk_score,
        "aliases": [],
        "joined_on": iso(row.joined_on),
        "last_sign_in": iso_or_none(row.last_sign_in),
        "status": row.status,
        "organization": "Simulated Org",
        "department": row.department,
        "language": "English - United States",
        "comment": None,
        "employee_start_date": iso(row.joined_on - 2 * DAY),
        "archived_at": iso_or_none(row.archived_at),
        "custom_field_1": None,
        "custom_field_2": None,
        "custom_field_3": None,
        "custom_field_4": None,
        "custom_date_1": None,
        "custom_date_2": None,
    }


def group(row: Group, member_count: int) -> Json:
    return {
        "id": row.id,
        "name": row.name,
        "group_type": row.group_type,
        "provisioning_guid": row.provisioning_guid,
        "member_count": member_count,
        "current_risk_score": row.current_risk_score,
        "status": row.status,
    }


def _group_refs(refs: Sequence[GroupRef]) -> list[Json]:
    return [{"group_id": ref.group_id, "name": ref.name} for ref in refs]


def _named(ref: NamedRef) -> Json:
    return {"id": ref.id, "name": ref.name}


def phishing_campaign(row: PhishingCampaign, tests: Mapping[int, SecurityTest]) -> Json:
    psts = [tests[pst_id] for pst_id in row.pst_ids if pst_id in tests]
    started = [t for t in psts if t.started_at is not None]
    latest = max(started, key=lambda t: t.started_at or 0) if started else None
    return {
        "campaign_id": row.campaign_id,
        "name": row.name,
        "groups": _group_refs(row.groups),
        "last_phish_prone_percentage": None if latest is None else latest.phish_prone_percentage,
        "last_run": None if latest is None else iso_or_none(latest.started_at),
        "status": row.status,
        "hidden": False,
        "send_duration": row.send_duration,
        "track_duration": row.track_duration,
        "frequency": row.frequency,
        "difficulty_filter": list(row.difficulty_filter),
        "create_date": iso(row.create_date),
        "psts_count": len(psts),
        "psts": [
            {
                "pst_id": t.pst_id,
                "status": t.status,
                "start_date": iso_or_none(t.started_at),
                "users_count": t.users_count,
                "phish_prone_percentage": t.phish_prone_percentage,
            }
            for t in psts
        ],
    }


def security_test(row: SecurityTest) -> Json:
    body: Json = {
        "campaign_id": row.campaign_id,
        "pst_id": row.pst_id,
        "status": row.status,
        "name": row.name,
        "groups": _group_refs(row.groups),
        "phish_prone_percentage": row.phish_prone_percentage,
        "started_at": iso_or_none(row.started_at),
        "duration": row.duration,
        "categories": [{"category_id": c.id, "name": c.name} for c in row.categories],
        "template": _named(row.template),
        # The documentation says "landing-page"; real responses say "landing_page".
        "landing_page": _named(row.landing_page),
    }
    for name, count in row.counts.items():
        body[f"{name}_count"] = count
    return body


def recipient(row: Recipient, seed: int) -> Json:
    dice = Dice(seed, 91, row.pst_id, row.recipient_id)
    browser, version = dice.pick(0, _BROWSERS)
    engaged = row.opened_at is not None
    return {
        "recipient_id": row.recipient_id,
        "pst_id": row.pst_id,
        "user": {
            "id": row.user_id,
            "provisioning_guid": None,
            "first_name": row.first_name,
            "last_name": row.last_name,
            "email": row.email,
        },
        "template": _named(row.template),
        "scheduled_at": iso_or_none(row.scheduled_at),
        "delivered_at": iso_or_none(row.delivered_at),
        "opened_at": iso_or_none(row.opened_at),
        "clicked_at": iso_or_none(row.clicked_at),
        "replied_at": iso_or_none(row.replied_at),
        "attachment_opened_at": iso_or_none(row.attachment_opened_at),
        "macro_enabled_at": iso_or_none(row.macro_enabled_at),
        "data_entered_at": iso_or_none(row.data_entered_at),
        # No "_at" suffix on this one, though it holds a timestamp.
        "qr_code_scanned": iso_or_none(row.qr_code_scanned),
        "reported_at": iso_or_none(row.reported_at),
        "bounced_at": iso_or_none(row.bounced_at),
        "ip": f"198.51.100.{dice.below(1, 254) + 1}" if engaged else None,
        "ip_location": dice.pick(2, _CITIES) if engaged else None,
        "browser": browser if engaged else None,
        "browser_version": version if engaged else None,
        "os": dice.pick(3, _SYSTEMS) if engaged else None,
    }


def content_item(item: Content) -> Json:
    """An item of a training campaign's `content`."""
    if isinstance(item, Policy):
        return {**_policy_body(item), "published": item.published}
    return {
        "store_purchase_id": item.store_purchase_id,
        **_store_purchase_body(item),
    }


def store_purchase(item: StorePurchase) -> Json:
    """A row of /v1/training/store_purchases, whose id key is spelt differently."""
    return {"store_purchased_id": item.store_purchase_id, **_store_purchase_body(item)}


def _store_purchase_body(item: StorePurchase) -> Json:
    return {
        "content_type": "Store Purchase",
        "name": item.name,
        "description": item.description,
        "type": item.type,
        "duration": item.duration,
        "retired": item.retired,
        "retirement_date": None,
        "publish_date": iso(item.publish_date),
        "publisher": item.publisher,
        "purchase_date": iso(item.purchase_date),
        "policy_url": None,
    }


def policy(item: Policy) -> Json:
    """A row of /v1/training/policies, which says `status` where content says `published`."""
    return {**_policy_body(item), "status": 1 if item.published else 0}


def _policy_body(item: Policy) -> Json:
    return {
        "policy_id": item.policy_id,
        "content_type": "Uploaded Policy",
        "name": item.name,
        "minimum_time": item.minimum_time,
        "default_language": item.default_language,
    }


def training_campaign(row: TrainingCampaign, completion_percentage: int | None) -> Json:
    """`completion_percentage` None: left out, as with exclude_percentages=true."""
    body: Json = {
        "campaign_id": row.campaign_id,
        "name": row.name,
        "groups": _group_refs(row.groups),
        "status": row.status,
        # Nested one level deeper than one would expect, as documented.
        "content": [[content_item(item) for item in row.content]],
        "duration_type": row.duration_type,
        "start_date": iso(row.start_date),
        "end_date": iso_or_none(row.end_date),
        "relative_duration": row.relative_duration,
        "auto_enroll": row.auto_enroll,
        "allow_multiple_enrollments": row.allow_multiple_enrollments,
    }
    if completion_percentage is not None:
        body["completion_percentage"] = completion_percentage
    return body


def enrollment(
    row: Enrollment,
    *,
    include_campaign_id: bool,
    include_store_purchase_id: bool,
    include_employee_number: bool,
) -> Json:
    person: Json = {
        "id": row.user_id,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "email": row.email,
    }
    if include_employee_number:
        person["employee_number"] = row.employee_number
    is_policy = isinstance(row.content, Policy)
    body: Json = {
        "enrollment_id": row.enrollment_id,
        "content_type": "Uploaded Policy" if is_policy else "Store Purchase",
        "module_name": row.content.name,
        "user": person,
        "campaign_name": row.campaign_name,
        "enrollment_date": iso(row.enrollment_date),
        "start_date": iso_or_none(row.start_date),
        "completion_date": iso_or_none(row.completion_date),
        "status": row.status,
        "time_spent": row.time_spent,
        "policy_acknowledged": row.policy_acknowledged,
    }
    if include_campaign_id:
        body["campaign_id"] = row.campaign_id
    if include_store_purchase_id and isinstance(row.content, StorePurchase):
        body["store_purchase_id"] = row.content.store_purchase_id
    return body
