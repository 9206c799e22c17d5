"""A simulated KnowBe4 Reporting API, PhishER GraphQL API and User Event API, served on
loopback.

It is an implementation of the APIs independent of the exporter's client code, so
tests and benchmarks against it exercise the real request/response path. See
`org` (what data is served), `server` (how: pacing, latency, faults) and `cli`.
"""

from .faults import Fault
from .org import Org, OrgSpec, generate_org
from .pacing import PacingLimits
from .server import SimulatorServer

__all__ = ["Fault", "Org", "OrgSpec", "PacingLimits", "SimulatorServer", "generate_org"]
