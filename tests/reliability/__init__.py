"""Reliability of the exporter under faults, load and bad input (issue 6).

Run with `.venv/bin/pytest tests/reliability -q` (add `-m "not slow"` to skip the soak
and the subprocess signal tests). docs/reliability.md summarises what these tests show.
"""
