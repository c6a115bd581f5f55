"""Fixed-length rollouts from gymnasium vector envs, with the time-limit bootstrap.

The envs use ``autoreset_mode=SAME_STEP`` (see :func:`course.envs.make_vector_env`): the
step that ends an episode already returns the next episode's first observation, and
``info["final_obs"]`` holds the observation the episode really ended in. So for every step

    next_values[t] = V(s_{t+1}) = values[t + 1]          if the episode goes on,
                   = V(final_obs)                         if it was truncated (time limit),
                   = 0                                     if it terminated,

and after the last step, V of the observation the envs are in. m06's ``compute_gae``
turns these into advantages: bootstrapping at a truncation, not at a termination.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from gymnasium import spaces

from course.envs import final_observations


@dataclass
class Rollout:
    """One rollout: every tensor is (T, N, ...) on the agent's device."""

    obs: torch.Tensor  # (T, N, *obs_shape), what the agent saw (normalised if asked)
    actions: torch.Tensor  # (T, N) int64 or (T, N, A) float, as sampled (never clipped)
    log_probs: torch.Tensor  # (T, N)
    values: torch.Tensor  # (T, N), V(s_t)
    rewards: torch.Tensor  # (T, N), scaled by reward_scale, or by m11's RewardScaler
    terminated: torch.Tensor  # (T, N) bool
    truncated: torch.Tensor  # (T, N) bool
    next_values: torch.Tensor  # (T, N), V(s_{t+1}) as above

    def flatten(self) -> dict[str, torch.Tensor]:
        """(T, N, ...) -> (B, ...), B = T * N, for the update (advantages added later)."""
        T, N = self.values.shape
        return {
            "obs": self.obs.reshape(T * N, *self.obs.shape[2:]),
            "actions": self.actions.reshape(T * N, *self.actions.shape[2:]),
            "log_probs": self.log_probs.reshape(T * N),
            "values": self.values.reshape(T * N),
        }


class RunningNormalizer:
    """Running mean and variance of observations (Welford, batched); ``normalize`` maps an
    observation to (x - mean) / sqrt(var + eps), clipped to [-clip, clip]."""

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, eps: float = 1e-8) -> None:
        self.mean = np.zeros(shape, dtype=np.float64)
        self.var = np.ones(shape, dtype=np.float64)
        self.count = 1e-4
        self.clip = clip
        self.eps = eps

    def update(self, batch: np.ndarray) -> None:
        batch_mean = batch.mean(axis=0)
        batch_var = batch.var(axis=0)
        n = batch.shape[0]
        shift = batch_mean - self.mean
        seen = self.count + n
        self.mean = self.mean + shift * n / seen
        spread = self.count * self.var + batch_var * n + shift**2 * self.count * n / seen
        self.var = spread / seen
        self.count = seen

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        scaled = (obs - self.mean) / np.sqrt(self.var + self.eps)
        return np.clip(scaled, -self.clip, self.clip).astype(np.float32)


class RolloutCollector:
    """Steps the vector envs with the agent and records rollouts of ``num_steps`` steps.

    Args:
        envs: a gymnasium vector env with SAME_STEP autoreset.
        agent: has ``get_action_and_value(obs)`` and ``get_value(obs)`` (m09's
            ``ActorCritic``).
        num_steps: T, the steps per env in each rollout.
        device: where the rollout's tensors live.
        log: a :class:`course.runlog.RunLog`, told every step's raw rewards and ends.
        normalize_obs: keep running statistics of the observations and feed the agent
            normalised ones (the final observations too).
        reward_scale: multiply the rewards the agent learns from (not the logged ones).
        normalizer: the running observation statistics to use instead of the course's
            own (:class:`course.normalization.ObservationNormalizer`, m11's code).
        reward_scaling: called on each step's rewards and episode ends, gives the rewards
            the agent learns from (:class:`course.normalization.RewardScaling`); the logged
            rewards stay the environment's.
    """

    def __init__(
        self,
        envs,
        agent,
        num_steps: int,
        device: torch.device,
        log,
        normalize_obs: bool = False,
        reward_scale: float = 1.0,
        normalizer=None,
        reward_scaling=None,
    ) -> None:
        self.envs = envs
        self.agent = agent
        self.num_steps = num_steps
        self.device = device
        self.log = log
        self.reward_scale = reward_scale
        self.num_envs = envs.num_envs
        obs_shape = envs.single_observation_space.shape
        self.normalizer = normalizer
        if normalizer is None and normalize_obs:
            self.normalizer = RunningNormalizer(obs_shape)
        self.reward_scaling = reward_scaling
        space = envs.single_action_space
        self.continuous = isinstance(space, spaces.Box)
        if self.continuous:
            self.low = torch.as_tensor(space.low, dtype=torch.float32, device=device)
            self.high = torch.as_tensor(space.high, dtype=torch.float32, device=device)
        self.next_obs: np.ndarray | None = None

    def reset(self, seed: int) -> None:
        obs, _ = self.envs.reset(seed=seed)
        self.next_obs = self._observe(obs, update=True)

    def _observe(self, obs: np.ndarray, update: bool) -> np.ndarray:
        if self.normalizer is None:
            return np.asarray(obs, dtype=np.float32)
        if update:
            self.normalizer.update(obs)
        return self.normalizer.normalize(obs)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, dtype=torch.float32, device=self.device)

    @torch.no_grad()
    def collect(self, global_step: int) -> tuple[Rollout, int]:
        """Run T steps of every env; returns the rollout and the new global step count."""
        T, N = self.num_steps, self.num_envs
        obs, actions, log_probs, values = [], [], [], []
        rewards = np.zeros((T, N), dtype=np.float32)
        terminated = np.zeros((T, N), dtype=bool)
        truncated = np.zeros((T, N), dtype=bool)
        bootstrap: list[tuple[int, np.ndarray, np.ndarray]] = []  # (t, env ids, final obs)
        for t in range(T):
            obs_t = self._tensor(self.next_obs)
            action, log_prob, _, value = self.agent.get_action_and_value(obs_t)
            obs.append(obs_t)
            actions.append(action)
            log_probs.append(log_prob)
            values.append(value)
            if self.continuous:
                env_action = torch.clamp(action, self.low, self.high).cpu().numpy()
            else:
                env_action = action.cpu().numpy()
            next_obs, reward, term, trunc, info = self.envs.step(env_action)
            global_step += N
            done = term | trunc
            self.log.step(reward, done, global_step)
            rewards[t] = reward
            if self.reward_scaling is not None:
                rewards[t] = self.reward_scaling(reward, term, trunc)
            terminated[t] = term
            truncated[t] = trunc
            if trunc.any():
                ids = np.flatnonzero(trunc)
                reached = final_observations(next_obs, info, trunc)[ids]
                bootstrap.append((t, ids, reached))
            self.next_obs = self._observe(next_obs, update=True)

        # --8<-- [start:next_values]
        values_t = torch.stack(values)  # (T, N)
        next_values = torch.empty_like(values_t)
        next_values[:-1] = values_t[1:]
        next_values[-1] = self.agent.get_value(self._tensor(self.next_obs))
        for t, ids, reached in bootstrap:
            final = self.agent.get_value(self._tensor(self._observe(reached, update=False)))
            next_values[t, torch.as_tensor(ids, device=self.device)] = final
        terminated_t = torch.as_tensor(terminated, device=self.device)
        next_values = torch.where(terminated_t, torch.zeros_like(next_values), next_values)
        # --8<-- [end:next_values]
        rollout = Rollout(
            obs=torch.stack(obs),
            actions=torch.stack(actions),
            log_probs=torch.stack(log_probs),
            values=values_t,
            rewards=self._tensor(rewards) * self.reward_scale,
            terminated=terminated_t,
            truncated=torch.as_tensor(truncated, device=self.device),
            next_values=next_values,
        )
        return rollout, global_step
