"""Peak memory of one request to a hostile body: prints numbers, asserts nothing.

    .venv/bin/python -m tests.reliability.hostile_body_memory

Each case runs in a fresh interpreter (so its VmHWM is its own): one PacedSession GET,
one attempt, against a loopback server sending a 200 MiB JSON body without a length, or
a 1 MiB gzip stream of 1 GiB of spaces. docs/reliability.md quotes the output.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MIB = 1024 * 1024
CASES = ("json-200MiB", "gzip-bomb-1GiB")


def _bomb() -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    return b"".join(compressor.compress(b" " * MIB) for _ in range(1024)) + compressor.flush()


def _serve(case: str) -> ThreadingHTTPServer:
    bomb = _bomb() if case == "gzip-bomb-1GiB" else b""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if bomb:
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(bomb)))
                    self.end_headers()
                    self.wfile.write(bomb)
                    return
                self.end_headers()
                self.close_connection = True
                rows = b'{"id": 1, "name": "x"},' * (MIB // 24)
                self.wfile.write(b"[")
                for _ in range(200):
                    self.wfile.write(rows)
                self.wfile.write(b'{"id": 2}]')
            except OSError:
                pass  # the client stopped reading

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _one_case(case: str) -> None:
    from kb4_exporter.api.errors import ApiError
    from kb4_exporter.api.http import PacedSession
    from kb4_exporter.api.pacing import RateLimiter, RequestLedger

    server = _serve(case)
    clock = time.time
    session = PacedSession(
        api="reporting",
        base_url=f"http://127.0.0.1:{server.server_address[1]}",
        token=lambda: "hostile-body-memory-token",
        limiter=RateLimiter(per_second=1000, per_minute=100_000, clock=clock, sleep=time.sleep),
        ledger=RequestLedger(clock=clock),
        clock=clock,
        sleep=time.sleep,
        max_attempts=1,
    )
    started = time.monotonic()
    try:
        session.get_json("/v1/users")
        outcome = "read whole"
    except ApiError as err:
        outcome = err.reason
    seconds = time.monotonic() - started
    with open("/proc/self/status") as status:
        peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    print(f"{case}: {outcome}, peak RSS {peak_kib // 1024} MB, {seconds:.1f} s")


def main() -> None:
    if len(sys.argv) == 2:
        _one_case(sys.argv[1])
        return
    for case in CASES:
        subprocess.run(
            [sys.executable, "-m", "tests.reliability.hostile_body_memory", case], check=True
        )


if __name__ == "__main__":
    main()
