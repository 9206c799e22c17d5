"""The HTTP(S) server: /metrics, landing page, health, TLS and basic auth."""
