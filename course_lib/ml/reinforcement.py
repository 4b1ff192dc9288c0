"""Reinforcement learning (强化学习) on a grid world: planning with a model, learning without one.

- :class:`GridWorld`: a small Markov decision process. An agent moves up,
  right, down or left; walls and the border block it; entering a terminal
  cell ends the episode with that cell's reward; every other move costs
  ``step_reward``; with ``slip > 0`` a move goes sideways by chance.
- :func:`value_iteration` and :func:`policy_evaluation`: exact answers from the
  full model ``P[s, a, s']``, ``R[s, a, s']``, the references of the tests.
- :class:`QLearning`, :class:`SARSA` and :class:`TD0`: learn from sampled
  episodes only, with the update rules of Sutton & Barto (2018), chapter 6.

States are the cell indices ``row * n_cols + col``. The agents follow
scikit-learn's conventions for hyper-parameters (``get_params``, ``clone``,
validation), but they are not estimators: ``fit`` takes an environment, not a
feature matrix, so they are not run through scikit-learn's estimator checks.
"""
from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

__all__ = ["GridWorld", "QLearning", "SARSA", "TD0", "policy_evaluation", "value_iteration"]

#: The four moves as (row, column) steps: up, right, down, left.
ACTIONS = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)])
ACTION_NAMES = ("up", "right", "down", "left")


class GridWorld:
    """A grid world Markov decision process.

    Args:
        shape: ``(n_rows, n_cols)``.
        walls: cells the agent cannot enter, ``[(row, col), ...]``.
        terminals: ``{(row, col): reward}``; entering such a cell pays its
            reward and ends the episode.
        step_reward: the reward of every other move (a negative value is a
            cost per step, which favours short paths).
        slip: the probability that a move goes sideways instead, half to each
            side of the intended direction (``slip=0.2`` is the classic
            80/10/10 world of Russell & Norvig).
        start: the cell where every episode starts, or None for a random free
            non-terminal cell each episode ("exploring starts", so that
            learning sees every state).
        random_state: seed, ``RandomState`` or None, for the slips and the
            random starts.

    Attributes:
        n_states: ``n_rows * n_cols`` (walls and terminals included, as states
            that are never left).
        n_actions: 4.
        state: the agent's current state.

    Example::

        env = GridWorld((3, 4), walls=[(1, 1)], terminals={(0, 3): 1.0, (1, 3): -1.0},
                        step_reward=-0.04, slip=0.2, start=(2, 0))
        state = env.reset()
        state, reward, done = env.step(0)  # try to go up
    """

    n_actions = len(ACTIONS)

    def __init__(self, shape=(4, 4), walls=(), terminals=None, step_reward=-1.0, slip=0.0, start=(0, 0),
                 random_state=None):
        if len(shape) != 2 or any(isinstance(n, bool) or not isinstance(n, Integral) or n < 1 for n in shape):
            raise ValueError(f"GridWorld: shape must be two positive ints. Received: shape={shape!r}")
        if not 0 <= slip <= 1:
            raise ValueError(f"GridWorld: slip must be a probability in [0, 1]. Received: slip={slip!r}")
        self.shape = tuple(int(n) for n in shape)
        self.walls = [tuple(cell) for cell in walls]
        self.terminals = {(0, self.shape[1] - 1): 1.0} if terminals is None else dict(terminals)
        self.step_reward = float(step_reward)
        self.slip = float(slip)
        self.start = None if start is None else tuple(start)
        starts = [] if self.start is None else [self.start]
        for name, cells in (("walls", self.walls), ("terminals", list(self.terminals)), ("start", starts)):
            for cell in cells:
                if not (len(cell) == 2 and 0 <= cell[0] < self.shape[0] and 0 <= cell[1] < self.shape[1]):
                    raise ValueError(f"GridWorld: {name} has a cell outside the {self.shape} grid: {cell!r}")
        if self.start is not None and (self.start in self.walls or self.start in self.terminals):
            raise ValueError(f"GridWorld: start={self.start} must be a free, non-terminal cell.")
        self.n_states = self.shape[0] * self.shape[1]
        self.random_state = check_random_state(random_state)
        self._done = np.zeros(self.n_states, dtype=bool)
        self._done[[self.state_of(cell) for cell in list(self.terminals) + self.walls]] = True
        if self._done.all():
            raise ValueError("GridWorld: every cell is a wall or a terminal; leave at least one free cell.")
        self._model = self.transition_probabilities()
        self._cumulative = np.cumsum(self._model[0], axis=2)
        self.reset()

    def state_of(self, cell):
        """The state index of a ``(row, col)`` cell."""
        return cell[0] * self.shape[1] + cell[1]

    def cell_of(self, state):
        """The ``(row, col)`` cell of a state index."""
        return divmod(int(state), self.shape[1])

    @property
    def terminal_states(self):
        """Bool array ``(n_states,)``: True for terminal cells and walls (states with no decisions)."""
        return self._done.copy()

    def transition_probabilities(self):
        """The full model: ``P[s, a, s']`` and ``R[s, a, s']``, each ``(n_states, 4, n_states)``.

        ``P[s, a]`` is the distribution of the next state after action ``a`` in
        ``s``; terminal cells and walls only lead to themselves, with reward 0.
        """
        n_rows, n_cols = self.shape
        rows, cols = np.divmod(np.arange(self.n_states), n_cols)
        blocked = np.zeros(self.shape, dtype=bool)
        for cell in self.walls:
            blocked[cell] = True
        # destination[s, m]: where move m leads from s; off the grid or into a wall, the agent stays.
        target_rows = rows[:, None] + ACTIONS[None, :, 0]
        target_cols = cols[:, None] + ACTIONS[None, :, 1]
        inside = (target_rows >= 0) & (target_rows < n_rows) & (target_cols >= 0) & (target_cols < n_cols)
        target_rows = np.where(inside, target_rows, rows[:, None])
        target_cols = np.where(inside, target_cols, cols[:, None])
        free = ~blocked[target_rows, target_cols]
        destination = np.where(free, target_rows * n_cols + target_cols, np.arange(self.n_states)[:, None])
        # Action a goes to move a with 1 - slip, to the two perpendicular moves with slip / 2 each.
        moves = np.array([[a, (a + 1) % 4, (a + 3) % 4] for a in range(4)])
        chances = np.array([1.0 - self.slip, self.slip / 2, self.slip / 2])
        P = np.zeros((self.n_states, 4, self.n_states))
        states = np.arange(self.n_states)[:, None, None]
        np.add.at(P, (states, np.arange(4)[None, :, None], destination[:, moves]), chances)
        reward_on_entry = np.full(self.n_states, self.step_reward)
        for cell, reward in self.terminals.items():
            reward_on_entry[self.state_of(cell)] = reward
        R = np.broadcast_to(reward_on_entry, P.shape).copy()
        done = self.terminal_states
        P[done] = 0.0
        P[done, :, np.flatnonzero(done)] = 1.0
        R[done] = 0.0
        return P, R

    def reset(self):
        """Put the agent on ``start`` (or a random free cell when ``start`` is None); returns that state."""
        if self.start is None:
            self.state = int(self.random_state.choice(np.flatnonzero(~self._done)))
        else:
            self.state = self.state_of(self.start)
        return self.state

    def step(self, action):
        """Take an action: returns ``(next_state, reward, done)``."""
        if not 0 <= action < self.n_actions:
            raise ValueError(f"GridWorld.step: action must be 0, 1, 2 or 3 ({ACTION_NAMES}). Received: {action!r}")
        _, R = self._model
        cumulative = self._cumulative[self.state, action]
        draw = self.random_state.uniform() * cumulative[-1]
        next_state = min(int(np.searchsorted(cumulative, draw, side="right")), self.n_states - 1)
        reward = R[self.state, action, next_state]
        self.state = next_state
        return next_state, float(reward), bool(self._done[next_state])


def _model(env):
    return env.transition_probabilities() if hasattr(env, "transition_probabilities") else env


def value_iteration(env, gamma=0.9, theta=1e-10, max_iter=100_000):
    """Optimal state values and a greedy optimal policy, by the Bellman optimality update.

    .. math::

        V(s) \\leftarrow \\max_a \\sum_{s'} P(s' \\mid s, a)\\,[R(s, a, s') + \\gamma V(s')]

    repeated (for all states at once) until no value moves by more than ``theta``.

    Args:
        env: a :class:`GridWorld`, or the pair ``(P, R)`` of its model.
        gamma: the discount factor in ``[0, 1)``.
        theta: the stopping threshold on ``max |ΔV|``.
        max_iter: the most sweeps.

    Returns:
        ``(V, policy, Q)``: shapes ``(n_states,)``, ``(n_states,)`` (the lowest
        best action where several tie) and ``(n_states, n_actions)``.
    """
    if not 0 <= gamma < 1:
        raise ValueError(f"value_iteration: gamma must be in [0, 1). Received: gamma={gamma!r}")
    P, R = _model(env)
    expected_reward = (P * R).sum(axis=2)  # (S, A)
    V = np.zeros(P.shape[0])
    for _ in range(max_iter):
        Q = expected_reward + gamma * (P @ V)
        new_V = Q.max(axis=1)
        if np.max(np.abs(new_V - V)) <= theta:
            V = new_V
            break
        V = new_V
    Q = expected_reward + gamma * (P @ V)
    return V, Q.argmax(axis=1), Q


def policy_evaluation(env, policy, gamma=0.9):
    """The exact values of a deterministic policy, from the linear Bellman equations.

    .. math::

        V = r_\\pi + \\gamma P_\\pi V \\iff (I - \\gamma P_\\pi) V = r_\\pi

    Args:
        env: a :class:`GridWorld`, or the pair ``(P, R)``.
        policy: the action taken in each state, shape ``(n_states,)``.
        gamma: the discount factor in ``[0, 1)``.

    Returns:
        ``V`` of shape ``(n_states,)``.
    """
    P, R = _model(env)
    states = np.arange(P.shape[0])
    policy = np.asarray(policy, dtype=int)
    P_pi = P[states, policy]  # (S, S')
    r_pi = (P_pi * R[states, policy]).sum(axis=1)
    return np.linalg.solve(np.eye(P.shape[0]) - gamma * P_pi, r_pi)


class _Agent(BaseEstimator):
    """Shared by the tabular agents: hyper-parameters, ε-greedy choice, the episode loop."""

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, 1, closed="right")],
        "gamma": [Interval(Real, 0, 1, closed="both")],
        "epsilon": [Interval(Real, 0, 1, closed="both")],
        "n_episodes": [Interval(Integral, 1, None, closed="left")],
        "max_steps": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, alpha=0.1, gamma=0.9, epsilon=0.1, n_episodes=500, max_steps=200, random_state=None):
        self.alpha = alpha
        self.gamma = gamma
        self.epsilon = epsilon
        self.n_episodes = n_episodes
        self.max_steps = max_steps
        self.random_state = random_state

    def _epsilon_greedy(self, q_row, rng):
        """A random action with probability ε, else a best one (ties broken at random)."""
        if rng.uniform() < self.epsilon:
            return int(rng.randint(len(q_row)))
        best = np.flatnonzero(q_row == q_row.max())
        return int(best[rng.randint(best.size)])

    def predict(self, states):
        """The greedy action in each state: shape like ``states``."""
        check_is_fitted(self)
        return self.policy_[np.asarray(states, dtype=int)]


class QLearning(_Agent):
    """Q-learning (Watkins 1989): off-policy temporal-difference control.

    Acts ε-greedily, but learns the values of the greedy policy:

    .. math::

        Q(s, a) \\leftarrow Q(s, a) + \\alpha\\,[r + \\gamma \\max_{a'} Q(s', a') - Q(s, a)]

    (the bracket without the max term at a terminal ``s'``).

    Args:
        alpha: the step size in ``(0, 1]``.
        gamma: the discount factor.
        epsilon: the exploration rate of the ε-greedy behaviour.
        n_episodes: the episodes to learn from.
        max_steps: an episode is cut after this many steps.
        random_state: seed, ``RandomState`` or None, for the agent's choices.

    Attributes:
        q_values_: ``Q``, shape ``(n_states, n_actions)``.
        policy_: the greedy action of every state, shape ``(n_states,)``.
        episode_returns_: the undiscounted return of each episode.
    """

    def _target(self, Q, next_state, next_action, done):
        return 0.0 if done else self.gamma * Q[next_state].max()

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, env):
        """Learn from ``n_episodes`` episodes in ``env`` (anything with ``reset``, ``step``,
        ``n_states`` and ``n_actions``, as :class:`GridWorld`)."""
        rng = check_random_state(self.random_state)
        Q = np.zeros((env.n_states, env.n_actions))
        returns = np.zeros(self.n_episodes)
        for episode in range(self.n_episodes):  # each step depends on the last: sequential by nature
            state = env.reset()
            action = self._epsilon_greedy(Q[state], rng)
            for _ in range(self.max_steps):
                next_state, reward, done = env.step(action)
                next_action = self._epsilon_greedy(Q[next_state], rng)
                target = reward + self._target(Q, next_state, next_action, done)
                Q[state, action] += self.alpha * (target - Q[state, action])
                returns[episode] += reward
                if done:
                    break
                state, action = next_state, next_action
        self.q_values_ = Q
        self.policy_ = Q.argmax(axis=1)
        self.episode_returns_ = returns
        return self


class SARSA(QLearning):
    """SARSA (Rummery & Niranjan 1994): on-policy temporal-difference control.

    Learns the values of the ε-greedy policy it follows, using the action it
    will actually take next:

    .. math::

        Q(s, a) \\leftarrow Q(s, a) + \\alpha\\,[r + \\gamma Q(s', a') - Q(s, a)]

    Args and attributes: as :class:`QLearning`.
    """

    def _target(self, Q, next_state, next_action, done):
        return 0.0 if done else self.gamma * Q[next_state, next_action]


class TD0(BaseEstimator):
    """TD(0) prediction: learn the state values of a given policy from episodes.

    .. math::

        V(s) \\leftarrow V(s) + \\alpha\\,[r + \\gamma V(s') - V(s)]

    Args:
        alpha: the step size in ``(0, 1]``.
        gamma: the discount factor.
        n_episodes: the episodes to learn from.
        max_steps: an episode is cut after this many steps.

    The policy is deterministic: all randomness comes from the environment
    (its slips and random starts).

    Attributes:
        values_: ``V``, shape ``(n_states,)``.
        visits_: how often each state was updated.
    """

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, 1, closed="right")],
        "gamma": [Interval(Real, 0, 1, closed="both")],
        "n_episodes": [Interval(Integral, 1, None, closed="left")],
        "max_steps": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, alpha=0.05, gamma=0.9, n_episodes=1000, max_steps=200):
        self.alpha = alpha
        self.gamma = gamma
        self.n_episodes = n_episodes
        self.max_steps = max_steps

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, env, policy):
        """Follow ``policy`` (an action per state, shape ``(n_states,)``) for ``n_episodes`` episodes."""
        policy = np.asarray(policy, dtype=int)
        if policy.shape != (env.n_states,):
            raise ValueError(
                f"TD0: policy must give one action per state, shape ({env.n_states},). "
                f"Received shape {policy.shape}."
            )
        V = np.zeros(env.n_states)
        visits = np.zeros(env.n_states, dtype=int)
        for _ in range(self.n_episodes):
            state = env.reset()
            for _ in range(self.max_steps):
                next_state, reward, done = env.step(policy[state])
                target = reward + (0.0 if done else self.gamma * V[next_state])
                V[state] += self.alpha * (target - V[state])
                visits[state] += 1
                if done:
                    break
                state = next_state
        self.values_ = V
        self.visits_ = visits
        return self
