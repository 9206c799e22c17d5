"""Command line entry point (placeholder until the commands land)."""

import sys


def main() -> None:
    sys.exit("kb4-exporter: commands not wired yet")
