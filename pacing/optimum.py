"""The limit: the constrained-optimal stationary policy of the Markovian
version of a scenario, by linear programming over its semi-Markov decision
process (scipy's HiGHS).

State (b, c, w): agents busy, calls ringing, answered calls waiting (w > 0
only when every agent is busy). In every state the policy either launches
one more call, which takes no time and leads to (b, c + 1, w), or waits: the
process then stays an exponential time with rate b/T + c/D + w/theta, until
a talk ends (a waiting call takes the agent), a dial resolves (live with
probability p), or a waiting debtor gives up (abandon; patience exponential
with mean theta = 2 s, the simulator's Markovian rule). Launching one call at
a time reaches every number of calls a policy could launch at once, with as
many variables as states times two, so the LP stays small for 200 agents.
Variables x(s, a) are decision frequencies per unit time; the LP maximises
busy agent-time per unit time subject to the balance equations, time
normalisation and abandons <= cap * live answers. Separate pools (agents of
one language each) are processes side by side under one shared cap.

The optimal policy itself (`lp_policy`: the chance of launching one more
call in each state) can be run in the simulator, to see what the optimum
does to a regulator's 24 h windows, which the LP's long-run cap does not
hold.

"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import block_diag, coo_matrix, csr_matrix, vstack

PATIENCE_S = 2.0


@dataclass(frozen=True)
class Optimum:
    occupancy: float
    abandon_rate: float
    states: int
    variables: int


@dataclass(frozen=True)
class _PoolProcess:
    """One pool's decision process: balance equations (states x variables)
    and, per variable, its time, busy share, abandons and live answers."""

    balance: csr_matrix
    tau: np.ndarray
    busy: np.ndarray  # busy agents x time: occupancy once divided by the agents
    abandons: np.ndarray
    live: np.ndarray
    actions: list[tuple[tuple[int, int, int], bool]]  # per variable: its state, launches


@dataclass(frozen=True)
class LaunchTable:
    """The LP's optimal policy: in state (busy, ringing, waiting), the chance
    of launching one more call (then deciding again in the state it leads
    to). A state the optimum never visits launches while a visited state of
    as many busy agents or more, and as many waiting, launches with as many
    calls ringing or more: the policy is a threshold in calls ringing that
    does not fall as agents come free."""

    optimum: Optimum
    agents: int
    cap: float
    max_waiting: int
    chances: dict[tuple[int, int, int], float]  # states not in it never launch

    def launch_chance(self, busy: int, ringing: int, waiting: int) -> float:
        """The chance of launching one more call in this state (more
        waiting than the LP counts is its most waiting)."""
        return self.chances.get((busy, ringing, min(waiting, self.max_waiting)), 0.0)


def lp_optimum(agents: int, answer_rate: float, talk_s: float, resolve_s: float,
               cap: float, max_calls: int | None = None, max_waiting: int = 3) -> Optimum:
    """Occupancy of the best stationary policy with abandons <= cap."""
    return pools_optimum((agents,), answer_rate, talk_s, resolve_s, cap, max_calls, max_waiting)


def pools_optimum(pools: Sequence[int], answer_rate: float, talk_s: float, resolve_s: float,
                  cap: float, max_calls: int | None = None, max_waiting: int = 3) -> Optimum:
    """Occupancy of all the agents of separate pools (say, one per
    language, nobody in two) each dialing for itself, at the best
    stationary policy whose abandons over every pool together are <= cap:
    the cap is shared, so a small pool may abandon more than a big one.
    Each pool's process is independent but for that one constraint, so one
    LP holds them side by side."""
    return _solve(pools, answer_rate, talk_s, resolve_s, cap, max_calls, max_waiting)[0]


def _solve(pools: Sequence[int], answer_rate: float, talk_s: float, resolve_s: float,
           cap: float, max_calls: int | None, max_waiting: int
           ) -> tuple[Optimum, np.ndarray, list[_PoolProcess]]:
    if not pools or min(pools) < 1:
        raise ValueError(f"pools must be one or more team sizes of at least 1: {pools!r}")
    blocks = [_pool_process(n, answer_rate, talk_s, resolve_s, max_calls, max_waiting)
              for n in pools]
    # Each pool's time is normalised on its own (its sum of tau x is 1).
    normalise = block_diag([coo_matrix(b.tau.reshape(1, -1)) for b in blocks])
    a_eq = vstack([block_diag([b.balance for b in blocks]), normalise]).tocsr()
    b_eq = np.zeros(a_eq.shape[0])
    b_eq[-len(blocks):] = 1.0
    abandons = np.concatenate([b.abandons for b in blocks])
    live = np.concatenate([b.live for b in blocks])
    busy = np.concatenate([b.busy for b in blocks]) / sum(pools)
    result = linprog(-busy, A_ub=(abandons - cap * live).reshape(1, -1), b_ub=[0.0],
                     A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    if result.status != 0:
        raise RuntimeError(f"LP failed: {result.message}")
    x = result.x
    return Optimum(occupancy=float(-result.fun),
                   abandon_rate=float(abandons @ x) / float(live @ x),
                   states=sum(b.balance.shape[0] for b in blocks), variables=len(x)), x, blocks


def lp_policy(agents: int, answer_rate: float, talk_s: float, resolve_s: float,
              cap: float, max_calls: int | None = None, max_waiting: int = 3) -> LaunchTable:
    """The optimal stationary policy with abandons <= cap, as a table of
    launch chances per state, with its optimum."""
    optimum, x, (block,) = _solve((agents,), answer_rate, talk_s, resolve_s, cap, max_calls,
                                  max_waiting)
    launched: dict[tuple[int, int, int], float] = {}
    waited: dict[tuple[int, int, int], float] = {}
    for value, (state, launches) in zip(x, block.actions, strict=True):
        (launched if launches else waited)[state] = value
    visited = {s for s in launched.keys() | waited.keys()
               if launched.get(s, 0.0) + waited.get(s, 0.0) > 1e-12}
    # The most calls ringing at which a visited state still launches, by
    # busy and waiting; then, by busy and waiting, the most of those with
    # as many busy or more: an unvisited state (a start, with every agent
    # free, is one for a large team) launches up to it, as one with fewer
    # free agents and as many calls ringing does.
    most_ringing: dict[tuple[int, int], int] = {}
    for b, c, w in visited:
        if launched.get((b, c, w), 0.0) > 1e-12:
            most_ringing[(b, w)] = max(c, most_ringing.get((b, w), -1))
    threshold: dict[tuple[int, int], int] = {}
    for w in range(max_waiting + 1):
        most = -1
        for b in range(agents, -1, -1):
            most = max(most, most_ringing.get((b, w), -1))
            threshold[(b, w)] = most
    chances: dict[tuple[int, int, int], float] = {}
    for state, frequency in launched.items():
        b, c, w = state
        if state in visited:
            chance = frequency / (frequency + waited.get(state, 0.0))
        else:
            chance = 1.0 if c <= threshold[(b, w)] else 0.0
        if chance > 0:
            chances[state] = chance
    return LaunchTable(optimum, agents, cap, max_waiting, chances)


def _pool_process(agents: int, answer_rate: float, talk_s: float, resolve_s: float,
                  max_calls: int | None, max_waiting: int) -> _PoolProcess:
    n, p, theta = agents, answer_rate, PATIENCE_S
    c_max = max_calls if max_calls is not None else int(
        min(4 * n, max(3 * n * resolve_s / (talk_s * p), n) + 10))
    states = [(b, c, w) for b in range(n + 1) for c in range(c_max + 1)
              for w in range(max_waiting + 1) if w == 0 or b == n]
    index = {s: i for i, s in enumerate(states)}
    rows, cols, vals = [], [], []  # balance: sum_a x(j,a) - sum x(s,a) P(j|s,a) = 0
    reward, tau_list, ab_list, live_list = [], [], [], []
    actions: list[tuple[tuple[int, int, int], bool]] = []

    def action(state: tuple[int, int, int], tau: float, moves: list, reward_: float,
               abandons: float, live: float) -> None:
        var = len(reward)
        rows.append(index[state])
        cols.append(var)
        vals.append(1.0)
        for nxt, prob in moves:
            rows.append(index[nxt])
            cols.append(var)
            vals.append(-prob)
        reward.append(reward_)
        tau_list.append(tau)
        ab_list.append(abandons)
        live_list.append(live)
        actions.append((state, tau == 0.0))  # launching takes no time, waiting does

    for (b, c, w) in states:
        if c < c_max:
            action((b, c, w), 0.0, [((b, c + 1, w), 1.0)], 0.0, 0.0, 0.0)
        rate = b / talk_s + c / resolve_s + w / theta
        if rate <= 0:
            continue
        tau = 1.0 / rate
        moves: list[tuple[tuple[int, int, int], float]] = []
        abandons = 0.0
        if b:
            moves.append(((b, c, w - 1) if w else (b - 1, c, 0), (b / talk_s) * tau))
        if c:
            live = p * (c / resolve_s) * tau
            if b < n:
                moves.append(((b + 1, c - 1, 0), live))
            elif w < max_waiting:
                moves.append(((n, c - 1, w + 1), live))
            else:
                moves.append(((n, c - 1, w), live))
                abandons += live
            moves.append(((b, c - 1, w), (1 - p) * (c / resolve_s) * tau))
        if w:
            moves.append(((n, c, w - 1), (w / theta) * tau))
            abandons += (w / theta) * tau
        action((b, c, w), tau, moves, b * tau, abandons, p * (c / resolve_s) * tau)
    var = len(reward)
    balance = coo_matrix((vals, (rows, cols)), shape=(len(states), var)).tocsr()
    return _PoolProcess(balance, np.asarray(tau_list), np.asarray(reward),
                        np.asarray(ab_list), np.asarray(live_list), actions)
