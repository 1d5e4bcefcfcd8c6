"""Scenarios of an outbound shift, as plain data a user can write in JSON
or TOML. Parsing takes the text; reading files is the caller's business."""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from typing import Any

import numpy as np

from pacing.pools import LanguageShare


class Shape(Enum):
    FIXED = "fixed"
    EXPONENTIAL = "exponential"
    LOGNORMAL = "lognormal"


@dataclass(frozen=True)
class Duration:
    """A duration distribution: fixed, exponential, or lognormal with the
    given mean and shape sigma (a heavy right tail for sigma near 1)."""

    shape: Shape
    mean: float
    sigma: float = 0.0

    def sample(self, rng: np.random.Generator) -> float:
        if self.mean <= 0:
            return 0.0
        if self.shape is Shape.FIXED:
            return self.mean
        if self.shape is Shape.EXPONENTIAL:
            return float(rng.exponential(self.mean))
        mu = math.log(self.mean) - self.sigma ** 2 / 2
        return float(rng.lognormal(mu, self.sigma))


def fixed(seconds: float) -> Duration:
    return Duration(Shape.FIXED, seconds)


def exponential(mean: float) -> Duration:
    return Duration(Shape.EXPONENTIAL, mean)


@dataclass(frozen=True)
class AgentGroup:
    """count agents who take calls in these languages."""

    languages: frozenset[str]
    count: int


@dataclass(frozen=True)
class Scenario:
    """One outbound shift (repeated `days` times)."""

    name: str
    agents: int
    talk: Duration
    live_start: float  # live-answer probability at the start of the shift
    live_end: float | None = None  # ... and at its end (linear); None = constant
    wrap: Duration = field(default_factory=lambda: fixed(0.0))
    machine: float = 0.0
    busy: float = 0.0
    failed: float = 0.0
    answer_delay: Duration = field(default_factory=lambda: Duration(Shape.LOGNORMAL, 12.0, 0.5))
    ring_timeout: float = 25.0
    reject_delay: Duration = field(default_factory=lambda: fixed(3.0))
    amd_false_positive: float = 0.0  # people AMD hangs up on, as a share of people
    amd_false_negative: float = 0.0  # machines AMD lets through to an agent
    machine_talk: float = 8.0  # seconds an agent loses on a machine let through
    pause_per_hour: float = 0.0  # pauses each agent takes per hour
    pause: Duration = field(default_factory=lambda: fixed(300.0))
    login_stagger_minutes: float = 0.0  # agents log in (and out) spread over this
    shift_hours: float = 8.0
    start_hour: float = 9.0
    days: int = 1
    cap: float = 0.03
    seed: int = 1
    # The Markovian version: every dial resolves after an exponential time
    # with mean resolve_mean (live with probability live_start, else no
    # answer), talk is exponential, and a waiting debtor's patience is
    # exponential with a 2 s mean instead of exactly 2 s.
    markovian: bool = False
    resolve_mean: float = 20.0
    # Languages (both or neither): the debtors' shares, and the agents by the
    # languages they speak (their counts add up to agents). An answered
    # debtor connects only to an agent who speaks their language.
    debtor_languages: tuple[LanguageShare, ...] = ()
    agent_languages: tuple[AgentGroup, ...] = ()

    def agent_speaks(self) -> list[frozenset[str]]:
        """Each agent's languages, in the order of agent_languages (empty
        when the scenario has no languages)."""
        return [group.languages for group in self.agent_languages
                for _ in range(group.count)]

    def without_languages(self) -> Scenario:
        """The same team with no language constraints."""
        return replace(self, name=f"{self.name} (no languages)", debtor_languages=(),
                       agent_languages=())

    def live_rate(self, fraction_of_shift: float) -> float:
        end = self.live_start if self.live_end is None else self.live_end
        return self.live_start + (end - self.live_start) * fraction_of_shift

    def mean_resolution(self) -> float:
        """Mean seconds from dial to resolution, whatever the result."""
        live = self.live_start
        no_answer = max(0.0, 1.0 - live - self.machine - self.busy - self.failed)
        return ((live + self.machine) * self.answer_delay.mean
                + (self.busy + self.failed) * self.reject_delay.mean
                + no_answer * self.ring_timeout)

    def markovian_version(self) -> Scenario:
        """The same scenario with exponential talk and dial resolution (mean
        as the scenario's), a constant answer rate and no AMD or pauses."""
        if self.markovian:
            return self
        return replace(self, name=f"{self.name} (markovian)", markovian=True,
                       resolve_mean=self.mean_resolution(),
                       talk=exponential(self.talk.mean), wrap=fixed(0.0),
                       live_end=None, machine=0.0, busy=0.0, failed=0.0,
                       amd_false_positive=0.0, amd_false_negative=0.0, pause_per_hour=0.0,
                       login_stagger_minutes=0.0)


class ScenarioError(ValueError):
    """A scenario file is not valid; the message names the field."""


def _duration(value: Any, where: str) -> Duration:
    if isinstance(value, int | float):
        return fixed(float(value))
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: expected a number or a table with shape and mean")
    try:
        shape = Shape(value.get("shape", "exponential"))
    except ValueError:
        raise ScenarioError(f"{where}.shape: use fixed, exponential or lognormal") from None
    try:
        mean = float(value["mean"])
        sigma = float(value.get("sigma", 0.0))
    except (KeyError, TypeError, ValueError):
        raise ScenarioError(f"{where}.mean: a number is required") from None
    if mean < 0 or sigma < 0:
        raise ScenarioError(f"{where}: mean and sigma must not be negative")
    return Duration(shape, mean, sigma)


_DURATIONS = {"talk", "wrap", "answer_delay", "reject_delay", "pause"}
LANGUAGE_JOIN = "+"  # "es+en": agents who speak both


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise ScenarioError(f"{where}: expected a table of languages, e.g. {{ es = 0.7, en = 0.3 }}")
    return value


def _debtor_languages(value: Any, where: str) -> tuple[LanguageShare, ...]:
    shares = []
    for language, share in _table(value, where).items():
        if not isinstance(share, int | float) or not 0 < share <= 1:
            raise ScenarioError(f"{where}.{language}: a share between 0 and 1 is required")
        shares.append(LanguageShare(language, float(share)))
    if abs(sum(s.share for s in shares) - 1.0) > 1e-6:
        raise ScenarioError(f"{where}: the shares add up to {sum(s.share for s in shares):g}, "
                            "not 1")
    return tuple(shares)


def _agent_languages(value: Any, where: str) -> tuple[AgentGroup, ...]:
    groups = []
    for key, count in _table(value, where).items():
        if not isinstance(count, int) or count < 1:
            raise ScenarioError(f"{where}.{key}: a positive whole number of agents is required")
        groups.append(AgentGroup(frozenset(key.split(LANGUAGE_JOIN)), count))
    return tuple(groups)


def scenario_from_mapping(data: dict[str, Any], where: str = "scenario") -> Scenario:
    """A Scenario from parsed JSON/TOML; errors name the field."""
    known = {f.name for f in fields(Scenario)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ScenarioError(f"{where}: unknown field {unknown[0]!r}")
    for required in ("name", "agents", "talk", "live_start"):
        if required not in data:
            raise ScenarioError(f"{where}: field {required!r} is required")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in _DURATIONS:
            values[key] = _duration(value, f"{where}.{key}")
        elif key == "debtor_languages":
            values[key] = _debtor_languages(value, f"{where}.{key}")
        elif key == "agent_languages":
            values[key] = _agent_languages(value, f"{where}.{key}")
        else:
            values[key] = value
    scenario = Scenario(**values)
    for name in ("live_start", "machine", "busy", "failed", "amd_false_positive",
                 "amd_false_negative", "cap"):
        if not 0 <= float(getattr(scenario, name)) <= 1:
            raise ScenarioError(f"{where}.{name}: must be between 0 and 1")
    if not isinstance(scenario.agents, int) or scenario.agents < 1:
        raise ScenarioError(f"{where}.agents: must be a positive whole number")
    if scenario.live_start + scenario.machine + scenario.busy + scenario.failed > 1:
        raise ScenarioError(f"{where}: live_start + machine + busy + failed exceeds 1")
    _check_languages(scenario, where)
    return scenario


def _check_languages(scenario: Scenario, where: str) -> None:
    if bool(scenario.debtor_languages) != bool(scenario.agent_languages):
        raise ScenarioError(f"{where}: debtor_languages and agent_languages go together")
    if not scenario.agent_languages:
        return
    counted = sum(group.count for group in scenario.agent_languages)
    if counted != scenario.agents:
        raise ScenarioError(f"{where}.agent_languages: {counted} agents, but agents is "
                            f"{scenario.agents}")
    spoken = frozenset().union(*(group.languages for group in scenario.agent_languages))
    for share in scenario.debtor_languages:
        if share.language not in spoken:
            raise ScenarioError(f"{where}.debtor_languages.{share.language}: no agent speaks it")


def parse_scenarios(text: str, fmt: str, where: str = "scenarios") -> list[Scenario]:
    """Scenarios from JSON or TOML text: one scenario, or a list under
    "scenarios" ([[scenarios]] in TOML)."""
    try:
        data = json.loads(text) if fmt == "json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as error:
        raise ScenarioError(f"{where}: not valid {fmt}: {error}") from None
    items = data.get("scenarios", [data]) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ScenarioError(f"{where}: expected a scenario or a list of scenarios")
    return [scenario_from_mapping(item, f"{where}[{i}]") for i, item in enumerate(items)]
