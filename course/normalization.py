"""The running statistics of a trainer, kept by an implementation's m11.

The collector of :mod:`course.rollout` works with numpy arrays from gymnasium; these
adapters hand them to the graded ``RunningMeanStd``, ``normalize_observation`` and
``RewardScaler`` of the implementation chosen with ``--impl`` and give numpy back. The
observation adapter has the ``mean``, ``var``, ``clip`` and ``eps`` that ``agent.pt``
stores, so that the evaluation and ``ppo-course play`` normalise with the statistics the
run ended with, frozen.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

#: The bound and the epsilon of Baselines' and Stable-Baselines3's VecNormalize.
CLIP = 10.0
EPS = 1e-8


class ObservationNormalizer:
    """Running observation statistics by m11's ``RunningMeanStd``; observations scaled by
    m11's ``normalize_observation``."""

    def __init__(self, m11: Any, shape: tuple[int, ...], clip: float = CLIP, eps: float = EPS):
        self.m11 = m11
        self.rms = m11.RunningMeanStd(tuple(shape))
        self.clip = clip
        self.eps = eps

    @property
    def mean(self) -> torch.Tensor:
        return self.rms.mean

    @property
    def var(self) -> torch.Tensor:
        return self.rms.var

    def update(self, obs: np.ndarray) -> None:
        self.rms.update(torch.as_tensor(np.asarray(obs, dtype=np.float64)))

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(obs, dtype=np.float64))
        scaled = self.m11.normalize_observation(x, self.rms, self.clip, self.eps)
        return np.asarray(scaled.detach().cpu().numpy(), dtype=np.float32)


class RewardScaling:
    """The rewards an agent learns from, divided by m11's ``RewardScaler``."""

    def __init__(self, m11: Any, num_envs: int, gamma: float, clip: float = CLIP, eps: float = EPS):
        self.scaler = m11.RewardScaler(num_envs, gamma, clip, eps)

    def __call__(
        self, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray
    ) -> np.ndarray:
        scaled = self.scaler(
            torch.as_tensor(np.asarray(rewards, dtype=np.float32)),
            torch.as_tensor(np.asarray(terminated, dtype=bool)),
            torch.as_tensor(np.asarray(truncated, dtype=bool)),
        )
        return np.asarray(scaled.detach().cpu().numpy(), dtype=np.float32)
