"""Per-account refreshes: what to fetch when, what it produced, and the wiring."""
