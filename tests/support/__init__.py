"""Shared helpers for tests that check the shipped dashboards, rules and deploy files.

Tests import these as `support.<module>` (pytest puts tests/ on sys.path).
"""
