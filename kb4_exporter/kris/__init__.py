"""The KRIs and breakdowns: pure functions of a snapshot and the refresh time."""
