"""Environments: gymnasium vector envs with same-step autoreset, episode statistics, and the
return thresholds at which the course calls a task solved."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

#: Mean return over the last 20 finished training episodes at which a task counts as solved.
SOLVED_THRESHOLDS: dict[str, float] = {
    "CartPole-v1": 475.0,
    "Acrobot-v1": -100.0,
    "Pendulum-v1": -250.0,
}
SOLVED_WINDOW = 20

#: gymnasium's MuJoCo locomotion tasks that m11 trains on (the ``[mujoco]`` extra); they
#: have no threshold: a run uses its whole step budget.
MUJOCO_ENVS = ("Hopper-v5", "HalfCheetah-v5", "Walker2d-v5")
MUJOCO_INSTALL = 'pip install -e ".[mujoco]"'


def is_mujoco(env_id: str) -> bool:
    """A MuJoCo locomotion task, whatever its version (``Hopper-v4``, ``Hopper-v5``)."""
    return env_id.split("-")[0] in {e.split("-")[0] for e in MUJOCO_ENVS}


def mujoco_missing(env_id: str) -> str | None:
    """One line saying what to install when ``env_id`` is a MuJoCo task and the ``mujoco``
    package is not importable; None otherwise."""
    import importlib.util

    if not is_mujoco(env_id):
        return None
    if importlib.util.find_spec("mujoco") is not None:
        return None
    return f"{env_id} is a MuJoCo task and MuJoCo is not installed: {MUJOCO_INSTALL}"


class CartPoleSameStep(CartPoleVectorEnv):
    """gymnasium's numpy-vectorised CartPole-v1 (one array operation steps every copy, the
    same dynamics and 500-step time limit as ``gym.make("CartPole-v1")``), with SAME_STEP
    autoreset: an episode that ends is reset within the same ``step`` call, its last
    observation in ``info["final_obs"]``, as ``gym.make_vec`` does with
    ``autoreset_mode=SAME_STEP``. (The class itself only offers NEXT_STEP.)"""

    metadata: ClassVar[dict] = {
        **CartPoleVectorEnv.metadata,
        "autoreset_mode": gym.vector.AutoresetMode.SAME_STEP,
    }

    def step(self, actions):
        obs, rewards, terminated, truncated, info = super().step(actions)
        done = terminated | truncated
        if done.any():
            info = {"final_obs": obs.copy(), "_final_obs": done.copy()}
            self.state[:, done] = self.np_random.uniform(
                low=self.low, high=self.high, size=(4, int(done.sum()))
            )
            self.steps[done] = 0
            obs = self.state.T.astype(np.float32)
        self.prev_done[:] = False  # nothing left to reset at the next step
        return obs, rewards, terminated, truncated, info


def make_vector_env(env_id: str, num_envs: int, seed: int) -> gym.vector.VectorEnv:
    """``num_envs`` copies of ``env_id`` stepped together, with SAME_STEP autoreset.

    With SAME_STEP, the step that ends an episode returns the *first* observation of the
    next episode, and ``info["final_obs"][i]`` holds the last observation of the episode
    that ended: exactly what the time-limit bootstrap needs. (gymnasium 1.x defaults to
    NEXT_STEP, where the ending step returns the last observation and the next ``step``
    call ignores its action to reset.)

    CartPole-v1 uses gymnasium's numpy-vectorised implementation (:class:`CartPoleSameStep`,
    several times faster than stepping copies one by one); every other task, a
    ``SyncVectorEnv`` from ``gym.make_vec``.
    """
    if env_id == "CartPole-v1":
        envs = CartPoleSameStep(num_envs=num_envs)
        envs.action_space.seed(seed)
        return envs
    envs = gym.make_vec(
        env_id,
        num_envs=num_envs,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    )
    envs.action_space.seed(seed)
    return envs


def final_observations(next_obs: np.ndarray, infos: dict, dones: np.ndarray) -> np.ndarray:
    """The observation each env actually reached at this step: ``next_obs``, except where
    an episode ended, where it is ``info["final_obs"]`` (``next_obs`` already belongs to
    the next episode there).

    Args:
        next_obs: (N, *obs_shape) what ``step`` returned.
        infos: the info dict of the same step.
        dones: (N,) bool, terminated | truncated.

    Returns:
        (N, *obs_shape) array, a copy.
    """
    reached = np.array(next_obs, copy=True)
    if dones.any():
        finals = infos["final_obs"]
        for i in np.flatnonzero(dones):
            reached[i] = finals[i]
    return reached


@dataclass
class EpisodeStats:
    """Returns and lengths of the episodes that finish, env by env."""

    num_envs: int
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    finished_at: list[int] = field(default_factory=list)  # global step at the end

    def __post_init__(self) -> None:
        self._running = np.zeros(self.num_envs)
        self._length = np.zeros(self.num_envs, dtype=np.int64)

    def update(self, rewards: np.ndarray, dones: np.ndarray, global_step: int) -> int:
        """Add one vector step; returns how many episodes finished."""
        self._running += rewards
        self._length += 1
        ended = np.flatnonzero(dones)
        for i in ended:
            self.returns.append(float(self._running[i]))
            self.lengths.append(int(self._length[i]))
            self.finished_at.append(global_step)
            self._running[i] = 0.0
            self._length[i] = 0
        return len(ended)

    def reset_partial(self) -> None:
        """Forget unfinished episodes (after the envs are reset by hand)."""
        self._running[:] = 0.0
        self._length[:] = 0

    def recent_mean(self, window: int = SOLVED_WINDOW) -> float:
        """Mean return of the last ``window`` finished episodes (nan before any)."""
        if not self.returns:
            return float("nan")
        return float(np.mean(self.returns[-window:]))

    def solved(self, threshold: float | None, window: int = SOLVED_WINDOW) -> bool:
        return (
            threshold is not None
            and len(self.returns) >= window
            and self.recent_mean(window) >= threshold
        )
