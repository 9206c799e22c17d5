"""Container health check: GET /-/healthy on the exporter's own port, exit 0 or 1.

The image has no curl; this runs with the image's Python and the standard library only.
It follows KB4_LISTEN_ADDRESS for the port and KB4_WEB_CONFIG_FILE for the scheme.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request


def health_url(environ: dict[str, str]) -> str:
    port = environ.get("KB4_LISTEN_ADDRESS", ":9897").rpartition(":")[2] or "9897"
    scheme = "https" if _tls_configured(environ.get("KB4_WEB_CONFIG_FILE")) else "http"
    return f"{scheme}://127.0.0.1:{port}/-/healthy"


def _tls_configured(web_config_file: str | None) -> bool:
    if not web_config_file:
        return False
    try:
        with open(web_config_file, encoding="utf-8") as stream:
            return any(line.startswith("tls_server_config:") for line in stream)
    except OSError:
        return False


def main() -> int:
    url = health_url(dict(os.environ))
    # A liveness probe over loopback: whether the certificate is valid for
    # 127.0.0.1 is not the question here, so it is not verified.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=4, context=context) as response:  # noqa: S310
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"health check of {url} failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
