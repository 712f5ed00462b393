"""The supervisor behind `mirage up`, run as a real process over real stand-in child processes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mirage.supervisor import Backoff, ChildSpec, Supervisor
from tests.e2e.processes import free_port
from tests.mirage.processes import Watched, pid_alive, standin, supervise


def records(path: Path) -> list[tuple[float, int]]:
    """(time, pid) per line of a stand-in's starts/stops file."""
    if not path.exists():
        return []
    return [(float(t), int(p)) for t, p in (line.split() for line in path.read_text().splitlines())]


def engine_then_bot(tmp_path: Path, ready_after_s: float, timing: dict | None = None) -> Watched:
    """Supervise a stand-in engine whose /readyz answers 503 for `ready_after_s`, and a bot that waits
    for it; each child records its starts and stops in its own folder under `tmp_path`."""
    (tmp_path / "engine").mkdir()
    (tmp_path / "bot").mkdir()
    port = free_port()
    return supervise(
        [
            {
                "name": "engine",
                "argv": standin("ready", tmp_path / "engine", f"{port}:{ready_after_s}"),
                "ready_url": f"http://127.0.0.1:{port}",
            },
            {"name": "bot", "argv": standin("run", tmp_path / "bot"), "after": "engine"},
        ],
        timing,
    )


def test_backoff_doubles_up_to_its_ceiling() -> None:
    backoff = Backoff(first_s=1.0, factor=2.0, max_s=5.0)
    assert [backoff.delay(n) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_a_child_waiting_for_an_unknown_child_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="waits for unknown child 'engine'"):
        Supervisor([ChildSpec("bot", ["true"], after="engine")])


def test_crashed_child_is_restarted_with_growing_waits_and_each_crash_is_reported(tmp_path: Path) -> None:
    run = supervise(
        [{"name": "engine", "argv": standin("crash", tmp_path, "2")}],
        {"backoff": {"first_s": 0.3, "factor": 2.0, "max_s": 5.0}},
    )
    try:
        run.wait_for(r"^engine +\| start 3: up$")
        assert run.terminate_and_wait() == 0
    finally:
        run.kill()
    out = run.text
    assert "engine | start 1: crashing" in out
    assert "exited with status 3" in out
    assert "restarting in 0.3 s (restart 1)" in out
    assert "restarting in 0.6 s (restart 2)" in out
    starts = [t for t, _ in records(tmp_path / "starts")]
    assert len(starts) == 3
    assert starts[1] - starts[0] >= 0.3  # the waits really happened, and grew
    assert starts[2] - starts[1] >= 0.6


def test_every_line_is_prefixed_with_its_process_and_progress_bars_become_lines(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "bot").mkdir()
    run = supervise(
        [
            {"name": "a", "argv": standin("progress", tmp_path / "a")},
            {"name": "bot", "argv": standin("run", tmp_path / "bot")},
        ]
    )
    try:
        run.wait_for(r"^a +\| start 1: up$")
        run.wait_for(r"^bot +\| a warning on stderr$")  # stderr is copied too
        assert run.terminate_and_wait() == 0
    finally:
        run.kill()
    lines = run.text.splitlines()
    assert "a      | loading 50%" in lines  # \r-separated progress: one line each, padded prefix
    assert "a      | loading 100%" in lines
    assert "bot    | start 1: up" in lines
    assert all(line.split(" | ", 1)[0].strip() in {"a", "bot", "mirage"} for line in lines), lines


def test_sigterm_stops_the_bot_then_the_engine_each_draining_and_exits_zero(tmp_path: Path) -> None:
    run = engine_then_bot(tmp_path, ready_after_s=0)
    try:
        run.wait_for(r"^bot +\| start 1: up$")
        assert run.terminate_and_wait() == 0
    finally:
        run.kill()
    assert "engine | got SIGTERM, draining" in run.text
    assert "bot    | got SIGTERM, draining" in run.text
    (bot_stop, bot_pid), = records(tmp_path / "bot" / "stops")
    (engine_stop, engine_pid), = records(tmp_path / "engine" / "stops")
    assert bot_stop <= engine_stop  # dependents first: the bot's last requests still reach the engine
    time.sleep(0.2)
    assert not pid_alive(bot_pid) and not pid_alive(engine_pid)


def test_the_bot_starts_only_once_the_engine_answers_ready(tmp_path: Path) -> None:
    run = engine_then_bot(tmp_path, ready_after_s=2.0, timing={"waiting_note_s": 0.5})
    try:
        run.wait_for(r"^bot +\| start 1: up$")
        assert run.terminate_and_wait() == 0
    finally:
        run.kill()
    (engine_start, _), = records(tmp_path / "engine" / "starts")
    (bot_start, _), = records(tmp_path / "bot" / "starts")
    assert bot_start - engine_start >= 2.0  # /readyz said 503 for two seconds
    out = run.text
    assert out.index("engine is ready") < out.index("bot started")
    assert "bot still waiting for engine: /readyz 503" in out  # the operator sees why


def test_a_configuration_error_is_not_restarted_and_stops_the_stack_with_status_2(tmp_path: Path) -> None:
    run = supervise([{"name": "engine", "argv": standin("config-error", tmp_path)}])
    try:
        assert run.proc.wait(30) == 2
    finally:
        run.kill()
    assert "engine | invalid settings: MIRAGE_PORT must be a number" in run.text
    assert "not restarting" in run.text
    assert len(records(tmp_path / "starts")) == 1


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    run = supervise([{"name": "engine", "argv": standin("stubborn", tmp_path)}], {"stop_grace_s": 1.0})
    try:
        run.wait_for(r"^engine +\| start 1: up$")
        started = time.monotonic()
        assert run.terminate_and_wait() == 0
        assert time.monotonic() - started >= 1.0
    finally:
        run.kill()
    assert "engine did not stop in time; killing it" in run.text
    (_, pid), = records(tmp_path / "starts")
    assert not pid_alive(pid)
