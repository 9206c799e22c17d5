"""Benchmarks of the exporter against the simulated KnowBe4 API.

Run them with `python -m tests.benchmarks` from the repository root (`make bench`);
docs/benchmarks.md explains every number and holds the latest measured table.
"""
