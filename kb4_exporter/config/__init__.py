"""Settings from flags, environment variables and YAML; durations; API tokens."""
