"""Prometheus metric families over the latest results, and the /metrics body."""
