"""Run `mirage.supervisor.Supervisor` over stand-in children described as JSON (a real process, so the
tests can signal it). usage: run_supervisor.py '{"children": [...], "timing": {...}}'

A child: {"name", "argv", "ready_url"?: base URL whose /readyz gates dependents, "after"?: name}.
"""

from __future__ import annotations

import asyncio
import json
import sys

from mirage.stack import readyz_check
from mirage.supervisor import Backoff, ChildSpec, Supervisor, Timing


def main() -> int:
    config = json.loads(sys.argv[1])
    specs = [
        ChildSpec(
            name=child["name"],
            argv=child["argv"],
            ready=readyz_check(child["ready_url"]) if child.get("ready_url") else None,
            after=child.get("after"),
        )
        for child in config["children"]
    ]
    raw = config.get("timing", {})
    timing = Timing(
        backoff=Backoff(**raw.get("backoff", {})),
        ready_poll_s=raw.get("ready_poll_s", 0.1),
        waiting_note_s=raw.get("waiting_note_s", 30.0),
        stop_grace_s=raw.get("stop_grace_s", 10.0),
    )
    return asyncio.run(Supervisor(specs, timing=timing).run())


if __name__ == "__main__":
    sys.exit(main())
