"""Debtors' fates drawn ahead from a scenario, one per call in dialing
order: whether the debtor answers (a person), is busy, fails or does not
answer, and how many whole seconds an answering one talks. The lab's
`recobro bench pacing-live` writes each fate into a lab number; the
simulator dials the same fates in the same order (Simulation's fates), so
both runs meet the same debtors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pacing.model import DialResult
from pacing.scenario import Scenario, ScenarioError


@dataclass(frozen=True)
class Fate:
    """What one dialed debtor does; talk_s is 0 unless the result is LIVE."""

    result: DialResult
    talk_s: int = 0


def draw_fates(scenario: Scenario, count: int, max_talk_s: int) -> list[Fate]:
    """count fates drawn with the scenario's seed: live with its (constant)
    live-answer rate, then busy and failed by their shares, else no
    answer; talk times from its talk distribution in whole seconds, 1 to
    max_talk_s. ScenarioError names a field the draw cannot honour."""
    if scenario.live_end is not None:
        raise ScenarioError(f"{scenario.name}: live_end: fates are drawn at a constant "
                            "live-answer rate")
    if scenario.machine or scenario.markovian:
        raise ScenarioError(f"{scenario.name}: machine and markovian: fates have no "
                            "answering machines and resolve as the scenario's delays say")
    rng = np.random.default_rng(scenario.seed)
    fates = []
    for _ in range(count):
        draw = rng.random()
        if draw < scenario.live_start:
            talk = round(scenario.talk.sample(rng))
            fates.append(Fate(DialResult.LIVE, min(max_talk_s, max(1, talk))))
        elif draw < scenario.live_start + scenario.busy:
            fates.append(Fate(DialResult.BUSY))
        elif draw < scenario.live_start + scenario.busy + scenario.failed:
            fates.append(Fate(DialResult.FAILED))
        else:
            fates.append(Fate(DialResult.NO_ANSWER))
    return fates
