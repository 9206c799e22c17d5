"""The state dir: an account's data kept across restarts."""
