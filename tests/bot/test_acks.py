"""bot/acks.py: in a burst, follow-ups wait until the earlier interactions are acknowledged, and no longer."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest

from bot.acks import AckGate, gate_of


@dataclass
class Response:
    """discord.py's InteractionResponse as the gate reads it: done once the callback was sent."""

    done: bool = False

    def is_done(self) -> bool:
        return self.done


@dataclass
class Interaction:
    response: Response = field(default_factory=Response)


async def finished_within(coro: asyncio.Future[None] | asyncio.Task[None], seconds: float) -> bool:
    try:
        await asyncio.wait_for(asyncio.shield(coro), seconds)
    except TimeoutError:
        return False
    return True


async def test_without_a_burst_follow_ups_go_at_once() -> None:
    gate = AckGate(poll_s=0.001)
    started = time.monotonic()
    await gate.acks_first()
    one = Interaction(Response(done=True))
    gate.arrived(one)
    await asyncio.wait_for(gate.acks_first(), 0.5)
    assert time.monotonic() - started < 0.5
    assert gate.pending == 0


async def test_a_follow_up_waits_for_every_earlier_acknowledgement() -> None:
    gate = AckGate(poll_s=0.001, give_up_s=30)
    burst = [Interaction() for _ in range(200)]
    for interaction in burst:
        gate.arrived(interaction)
    burst[0].response.done = True  # the first job acknowledged and wants to go on
    follow_up = asyncio.ensure_future(gate.acks_first())
    for interaction in burst[1:199]:
        interaction.response.done = True
    assert not await finished_within(follow_up, 0.05)  # the last one is still waiting for its ack
    burst[199].response.done = True
    assert await finished_within(follow_up, 1.0)
    await asyncio.sleep(0.01)
    assert gate.pending == 0


async def test_later_arrivals_never_hold_an_earlier_follow_up_back() -> None:
    gate = AckGate(poll_s=0.001, give_up_s=30)
    first = Interaction()
    gate.arrived(first)
    first.response.done = True
    follow_up = asyncio.ensure_future(gate.acks_first())
    await asyncio.sleep(0)  # it is waiting now
    later = [Interaction() for _ in range(50)]  # a steady stream behind it, none acknowledged yet
    for interaction in later:
        gate.arrived(interaction)
    assert await finished_within(follow_up, 1.0)
    assert gate.pending == 50


async def test_an_interaction_nobody_acknowledges_stops_holding_the_others_after_give_up() -> None:
    gate = AckGate(poll_s=0.001, give_up_s=0.2)
    ignored, mine = Interaction(), Interaction()
    gate.arrived(ignored)
    gate.arrived(mine)
    mine.response.done = True
    started = time.monotonic()
    await asyncio.wait_for(gate.acks_first(), 2.0)
    assert 0.15 <= time.monotonic() - started < 1.5


async def test_a_cancelled_follow_up_leaves_the_gate_working() -> None:
    gate = AckGate(poll_s=0.001, give_up_s=30)
    a, b = Interaction(), Interaction()
    gate.arrived(a)
    gate.arrived(b)
    cancelled = asyncio.ensure_future(gate.acks_first())
    await asyncio.sleep(0.01)
    cancelled.cancel()
    kept = asyncio.ensure_future(gate.acks_first())
    a.response.done = b.response.done = True
    assert await finished_within(kept, 1.0)
    with pytest.raises(asyncio.CancelledError):
        await cancelled


def test_the_gate_is_found_on_the_client_only_when_it_has_one() -> None:
    class Client:
        acks = AckGate()

    assert gate_of(Client()) is Client.acks
    assert gate_of(object()) is None
    assert gate_of(None) is None

