"""Prometheus exporter for KnowBe4 security-awareness KRIs."""

__version__ = "0.1.0"
