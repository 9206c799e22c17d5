"""What a refresher needs to know besides its clients: intervals, windows, limits."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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
    phisher_unresolved_interval: float = 300.0
    phisher_unresolved_horizon: float = 30 * 86400.0
