"""What each command does: serve (the daemon), once, check and the demo; `runtimes` is
what they build alike."""
