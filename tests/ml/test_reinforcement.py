"""course_lib.ml.reinforcement: learned policies and values against the exact model-based answers.

- The model: transition rows are distributions, slips go sideways, walls and
  the border block, terminals absorb.
- value_iteration: the Bellman optimality equation holds at its answer, and
  the values of its policy (from the linear Bellman system) equal its values.
- Q-learning and SARSA: on a deterministic world the greedy policy of the
  learned ``Q`` is optimal in every state (an action counts as optimal when
  its ``Q*`` equals the best one: several shortest paths tie); Q-learning also
  on a slippery world. SARSA learns the values of its own ε-greedy policy, so
  it is run with a small ε, where that policy's greedy part is optimal.
- TD(0): its values approach the policy's true values.

The agents are not scikit-learn estimators (``fit`` takes an environment), so
they are not run through scikit-learn's estimator checks; ``get_params`` and
``clone`` still work.
"""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from course_lib.ml.reinforcement import (
    GridWorld, QLearning, SARSA, TD0, policy_evaluation, value_iteration,
)

GAMMA = 0.9


def open_world(slip=0.0, seed=0):
    """4 x 5, two walls, a goal (+1) and a pit (-1); every episode starts on a random free cell."""
    return GridWorld((4, 5), walls=[(1, 1), (2, 3)], terminals={(0, 4): 1.0, (3, 4): -1.0},
                     step_reward=-0.04, slip=slip, start=None, random_state=seed)


def slippery_world(seed=0):
    """Russell & Norvig's 3 x 4 world, 20 % slips, a step cost large enough that every state's
    best action is better than the others by at least 0.08."""
    return GridWorld((3, 4), walls=[(1, 1)], terminals={(0, 3): 1.0, (1, 3): -1.0},
                     step_reward=-0.2, slip=0.2, start=None, random_state=seed)


def assert_greedy_policy_is_optimal(policy, env):
    _, _, Q = value_iteration(env, gamma=GAMMA)
    states = np.flatnonzero(~env.terminal_states)
    chosen = Q[states, policy[states]]
    wrong = states[~np.isclose(chosen, Q[states].max(axis=1), atol=1e-9)]
    assert wrong.size == 0, f"suboptimal actions in cells {[env.cell_of(s) for s in wrong]}"


# --------------------------------------------------------------------------- the model
def test_transition_model():
    env = GridWorld((3, 4), walls=[(1, 1)], terminals={(0, 3): 1.0, (1, 3): -1.0},
                    step_reward=-0.04, slip=0.2, start=(2, 0))
    P, R = env.transition_probabilities()
    assert P.shape == R.shape == (12, 4, 12)
    np.testing.assert_allclose(P.sum(axis=2), 1.0)
    up, right, down, left = range(4)
    s = env.state_of
    # From (2, 0), "up" reaches (1, 0) with 0.8, slips right to (2, 1) with 0.1, left into the border: stays.
    np.testing.assert_allclose(P[s((2, 0)), up, [s((1, 0)), s((2, 1)), s((2, 0))]], [0.8, 0.1, 0.1])
    # From (1, 0), "right" runs into the wall (1, 1): stays with 0.8.
    assert P[s((1, 0)), right, s((1, 0))] == pytest.approx(0.8)
    # Entering a terminal pays its reward; terminals then absorb with reward 0.
    assert R[s((0, 2)), right, s((0, 3))] == 1.0 and R[s((1, 2)), right, s((1, 3))] == -1.0
    assert R[s((2, 0)), up, s((1, 0))] == -0.04
    assert np.all(P[s((0, 3)), :, s((0, 3))] == 1.0) and np.all(R[s((0, 3))] == 0.0)


def test_step_samples_the_model():
    env = GridWorld((3, 4), walls=[(1, 1)], terminals={(0, 3): 1.0}, slip=0.2, start=(2, 0), random_state=0)
    landings = []
    for _ in range(4000):
        env.reset()
        landings.append(env.step(0)[0])
    frequencies = np.bincount(landings, minlength=12) / len(landings)
    P, _ = env.transition_probabilities()
    np.testing.assert_allclose(frequencies, P[env.state_of((2, 0)), 0], atol=0.02)
    env.reset()
    env.state = env.state_of((0, 2))
    assert env.step(1) == (env.state_of((0, 3)), 1.0, True)


# --------------------------------------------------------------------------- exact planning
@pytest.mark.parametrize("slip", [0.0, 0.2])
def test_value_iteration_solves_the_bellman_optimality_equation(slip):
    env = open_world(slip)
    V, policy, Q = value_iteration(env, gamma=GAMMA, theta=1e-12)
    P, R = env.transition_probabilities()
    np.testing.assert_allclose(V, ((P * (R + GAMMA * V)).sum(axis=2)).max(axis=1), atol=1e-10)
    np.testing.assert_allclose(policy_evaluation(env, policy, GAMMA), V, atol=1e-9)
    # No other deterministic one-step change of the policy does better anywhere.
    for state in np.flatnonzero(~env.terminal_states):
        for action in range(4):
            changed = policy.copy()
            changed[state] = action
            assert np.all(policy_evaluation(env, changed, GAMMA) <= V + 1e-9)


def test_value_iteration_on_the_classic_world():
    env = GridWorld((3, 4), walls=[(1, 1)], terminals={(0, 3): 1.0, (1, 3): -1.0}, step_reward=-0.04,
                    slip=0.2, start=(2, 0))
    V, policy, _ = value_iteration(env, gamma=1.0 - 1e-9, theta=1e-12)
    # The top row heads right to the goal; the cell below the goal goes up, around the pit.
    assert [policy[env.state_of((0, col))] for col in range(3)] == [1, 1, 1]
    assert policy[env.state_of((1, 2))] == 0
    assert V[env.state_of((0, 2))] > V[env.state_of((0, 1))] > V[env.state_of((0, 0))] > 0


# --------------------------------------------------------------------------- learning
def test_q_learning_finds_an_optimal_policy_on_a_deterministic_world():
    env = open_world()
    agent = QLearning(alpha=0.5, gamma=GAMMA, epsilon=0.3, n_episodes=2000, random_state=0).fit(env)
    assert_greedy_policy_is_optimal(agent.policy_, env)
    _, _, Q = value_iteration(env, gamma=GAMMA)
    free = ~env.terminal_states
    np.testing.assert_allclose(agent.q_values_[free].max(axis=1), Q[free].max(axis=1), atol=1e-3)


def test_sarsa_finds_an_optimal_policy_on_a_deterministic_world():
    env = open_world()
    agent = SARSA(alpha=0.2, gamma=GAMMA, epsilon=0.1, n_episodes=3000, random_state=0).fit(env)
    assert_greedy_policy_is_optimal(agent.policy_, env)


def test_q_learning_finds_the_optimal_policy_on_a_slippery_world():
    env = slippery_world()
    agent = QLearning(alpha=0.1, gamma=GAMMA, epsilon=0.3, n_episodes=4000, random_state=0).fit(env)
    assert_greedy_policy_is_optimal(agent.policy_, env)
    np.testing.assert_array_equal(agent.predict(np.arange(env.n_states)), agent.policy_)


def cliff_world(seed=0):
    """Sutton & Barto's cliff walk (example 6.6): the bottom row between start and goal is a cliff."""
    return GridWorld((4, 6), terminals={**{(3, col): -100.0 for col in range(1, 5)}, (3, 5): 0.0},
                     step_reward=-1.0, start=(3, 0), random_state=seed)


def greedy_path(env, policy, max_steps=30):
    cells = [env.cell_of(env.reset())]
    for _ in range(max_steps):
        state, _, done = env.step(policy[env.state])
        cells.append(env.cell_of(state))
        if done:
            break
    return cells


def test_sarsa_walks_away_from_the_cliff_where_q_learning_walks_along_it():
    """Off-policy Q-learning learns the shortest path, along the edge; on-policy SARSA accounts for
    its own ε-random steps and learns a path at least one row further from the cliff."""
    settings = dict(alpha=0.2, gamma=1.0, epsilon=0.1, n_episodes=1000, random_state=0)
    q_path = greedy_path(cliff_world(), QLearning(**settings).fit(cliff_world()).policy_)
    sarsa_path = greedy_path(cliff_world(), SARSA(**settings).fit(cliff_world()).policy_)
    assert q_path == [(3, 0)] + [(2, col) for col in range(6)] + [(3, 5)]
    assert sarsa_path[-1] == (3, 5)
    assert min(row for row, _ in sarsa_path) <= 1


def test_learning_shows_in_the_returns():
    agent = QLearning(alpha=0.5, gamma=GAMMA, epsilon=0.1, n_episodes=600, random_state=0).fit(
        GridWorld((4, 5), terminals={(0, 4): 1.0}, step_reward=-0.04, start=(3, 0), random_state=0))
    assert agent.episode_returns_[-100:].mean() > agent.episode_returns_[:20].mean()


@pytest.mark.parametrize("slip, alpha, n_episodes, tolerance", [(0.0, 0.05, 3000, 1e-3), (0.2, 0.01, 10000, 0.03)])
def test_td0_approaches_the_true_values_of_the_policy(slip, alpha, n_episodes, tolerance):
    env = open_world(slip, seed=1)
    _, policy, _ = value_iteration(env, gamma=GAMMA)
    true_values = policy_evaluation(env, policy, GAMMA)
    learner = TD0(alpha=alpha, gamma=GAMMA, n_episodes=n_episodes).fit(env, policy)
    free = ~env.terminal_states
    assert learner.visits_[free].min() > 100
    np.testing.assert_allclose(learner.values_[free], true_values[free], atol=tolerance)


def test_same_seed_same_agent():
    first = QLearning(n_episodes=50, random_state=3).fit(open_world(seed=5)).q_values_
    second = QLearning(n_episodes=50, random_state=3).fit(open_world(seed=5)).q_values_
    np.testing.assert_array_equal(first, second)


# --------------------------------------------------------------------------- API and errors
def test_agents_follow_sklearn_parameter_conventions():
    agent = SARSA(alpha=0.3, epsilon=0.05)
    assert clone(agent).get_params()["alpha"] == 0.3
    with pytest.raises(InvalidParameterError, match="'epsilon' parameter of QLearning.*Got 2"):
        QLearning(epsilon=2).fit(open_world())
    with pytest.raises(InvalidParameterError, match="'n_episodes' parameter of TD0.*Got 'many'"):
        TD0(n_episodes="many").fit(open_world(), np.zeros(20, dtype=int))
    with pytest.raises(NotFittedError, match="This SARSA instance is not fitted yet"):
        SARSA().predict([0])


def test_bad_input():
    with pytest.raises(ValueError, match=r"GridWorld: shape must be two positive ints. Received: shape=\(3,\)"):
        GridWorld((3,))
    with pytest.raises(ValueError, match="slip must be a probability.*slip=1.5"):
        GridWorld((3, 3), slip=1.5)
    with pytest.raises(ValueError, match=r"walls has a cell outside the \(3, 3\) grid: \(3, 0\)"):
        GridWorld((3, 3), walls=[(3, 0)])
    with pytest.raises(ValueError, match="start=.* must be a free, non-terminal cell"):
        GridWorld((3, 3), terminals={(0, 0): 1.0}, start=(0, 0))
    with pytest.raises(ValueError, match="GridWorld.step: action must be 0, 1, 2 or 3.*Received: 4"):
        open_world().step(4)
    with pytest.raises(ValueError, match="TD0: policy must give one action per state, shape \\(20,\\)"):
        TD0().fit(open_world(), [0, 1])
    with pytest.raises(ValueError, match="value_iteration: gamma must be in \\[0, 1\\)"):
        value_iteration(open_world(), gamma=1.0)
