"""`python -m engine.api.probe URL`: a container healthcheck on the engine's /readyz (stdlib only).

Exit 0 (healthy) when the engine is ready, or on its way: /readyz answers 503 with `retryable: true`
while models load, while it waits for `engine index` to create the atlas, and while it drains.
Exit 1 (unhealthy) when it does not answer, or a component failed for good (`retryable: false`),
which a restart may cure. Docker's healthcheck and autoheal act on that; Kubernetes has its own probes.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence


def healthy(url: str, timeout_s: float = 4.0) -> tuple[bool, str]:
    """Whether the engine at `url` (its /readyz) is ready or still on its way, and why not."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (a fixed local URL)
            return response.status == 200, f"status {response.status}"
    except urllib.error.HTTPError as error:
        try:
            body = json.loads(error.read() or b"{}")
        except ValueError:
            body = {}
        detail = body.get("error") if isinstance(body, dict) else None
        retryable = isinstance(detail, dict) and detail.get("retryable") is True
        message = detail.get("message", "") if isinstance(detail, dict) else ""
        return error.code == 503 and retryable, f"status {error.code}: {message}"
    except (urllib.error.URLError, OSError) as error:
        return False, f"no answer: {error}"


def main(argv: Sequence[str] | None = None) -> int:
    """Probe the URL given (default the local engine); 0 when healthy."""
    args = list(sys.argv[1:] if argv is None else argv)
    ok, why = healthy(args[0] if args else "http://127.0.0.1:8700/readyz")
    if not ok:
        print(f"unhealthy: {why}", file=sys.stderr)  # noqa: T201
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
