"""The simulated orgs the benchmarks run on, and the paging contract they are served with."""

from __future__ import annotations

from kb4_exporter.simulator.routes import CURSOR

# An account three years old: twelve past quarterly training campaigns for every user.
THREE_YEARS_OF_QUARTERS = 12
# The contract the Reporting API speaks since 2026.
CONTRACT = CURSOR
