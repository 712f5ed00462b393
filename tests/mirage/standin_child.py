"""A tiny stand-in for the engine or the bot, run as a real child process by the supervisor tests.

usage: standin_child.py MODE STATE_DIR [ARG]
  crash N       crash (exit 3) on the first N starts, then run until SIGTERM
  ready PORT S  serve GET /readyz on PORT: 503 for S seconds, then 200; run until SIGTERM
  run           run until SIGTERM
  config-error  exit 2 at once, as `engine serve` does on invalid settings
  stubborn      ignore SIGTERM (the supervisor must kill it after its grace)
  progress      print a progress bar with carriage returns, then run until SIGTERM
Every start appends "<time> <pid>" to STATE_DIR/starts; SIGTERM appends "<time> <pid>" to STATE_DIR/stops.
"""

from __future__ import annotations

import http.server
import signal
import sys
import threading
import time
from pathlib import Path


def main() -> int:
    mode, state = sys.argv[1], Path(sys.argv[2])
    arg = sys.argv[3] if len(sys.argv) > 3 else ""
    with (state / "starts").open("a") as f:
        f.write(f"{time.time()} {__import__('os').getpid()}\n")
    starts = len((state / "starts").read_text().splitlines())

    stop = threading.Event()

    def on_term(signum, frame) -> None:
        with (state / "stops").open("a") as f:
            f.write(f"{time.time()} {__import__('os').getpid()}\n")
        print("got SIGTERM, draining", flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "stubborn" else on_term)

    if mode == "crash" and starts <= int(arg):
        print(f"start {starts}: crashing", flush=True)
        return 3
    if mode == "config-error":
        print("invalid settings: MIRAGE_PORT must be a number", flush=True)
        return 2
    if mode == "ready":
        serve_readyz(int(arg.split(":")[0]), float(arg.split(":")[1]))
    if mode == "progress":
        sys.stdout.write("loading 10%\rloading 50%\rloading 100%\n")
        sys.stdout.flush()
    print(f"start {starts}: up", flush=True)
    print("a warning on stderr", file=sys.stderr, flush=True)
    while not stop.wait(0.1):
        pass
    return 0


def serve_readyz(port: int, delay_s: float) -> None:
    ready_at = time.time() + delay_s

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ready = time.time() >= ready_at
            body = b"ready" if ready else b'{"detail": {"clip": "loading"}}'
            self.send_response(200 if ready else 503)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
