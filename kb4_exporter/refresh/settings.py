"""What a refresher needs to know besides its clients: intervals, windows, limits."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kb4_exporter.config.settings import (
    DEFAULT_UNRESOLVED_HORIZON_SECONDS,
    DEFAULT_UNRESOLVED_INTERVAL_SECONDS,
)
from kb4_exporter.kris.breakdowns import BreakdownLimits


@dataclass(frozen=True)
class RefreshSettings:
    remedial_pattern: re.Pattern[str]
    phisher_lookback: float
    refresh_interval: float
    phisher_refresh_interval: float
    daily_budget: int | None
    limits: BreakdownLimits = field(default_factory=BreakdownLimits)
    # The paging signal's own poll: how often, and how far back messages are followed.
    phisher_unresolved_interval: float = DEFAULT_UNRESOLVED_INTERVAL_SECONDS
    phisher_unresolved_horizon: float = DEFAULT_UNRESOLVED_HORIZON_SECONDS
