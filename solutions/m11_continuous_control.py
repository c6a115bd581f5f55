"""Module m11: continuous control for real: running normalisation and reward scaling.

On MuJoCo's locomotion tasks the observations mix joint angles (about 1), velocities
(tens) and contact forces (hundreds), and the rewards of one step range from a fraction
to several units, growing as the agent learns to run. A network fed such inputs, and a
critic asked to fit returns in the thousands, learn slowly or not at all. Every PPO
implementation that reproduces the paper's MuJoCo results (OpenAI Baselines' ``ppo2``
with ``VecNormalize``, Stable-Baselines3, CleanRL) therefore normalises two things with
statistics that it keeps up to date as the rollouts come in:

* each observation dimension, to mean 0 and variance 1, then clipped to [-10, 10];
* the rewards, divided by the running standard deviation of the *discounted return*
  (not of the rewards, and with no mean subtracted), then clipped.

The statistics are running ones: they are merged batch by batch, over the whole run, by
the parallel rule of Chan, Golub and LeVeque, and at evaluation time they are frozen.

Shapes: B a batch, N parallel environments, ``shape`` an observation's shape.
"""

from __future__ import annotations

import torch


# --8<-- [start:RunningMeanStd]
class RunningMeanStd:
    """The mean, variance and count of all the data seen so far, updated batch by batch.

    ``update(batch)`` merges the statistics of a batch (B values of shape ``shape``)
    with those kept so far, by the rule for combining two groups:

        n      = n_a + n_b
        delta  = mean_b - mean_a
        mean   = mean_a + delta * n_b / n
        M2     = var_a * n_a + var_b * n_b + delta^2 * n_a * n_b / n
        var    = M2 / n

    where var_b is the batch's population variance (divided by n_b, not n_b - 1). The
    result equals the mean and population variance of all the data seen, whatever the
    sizes of the batches it came in.

    Source: Chan, Golub and LeVeque (1979), "Updating formulae and a pairwise algorithm
    for computing sample variances"; OpenAI Baselines' ``RunningMeanStd``.

    Conventions (part of the exercise, the checks rely on them):

    - ``mean`` and ``var`` are float64 tensors of shape ``shape``, on the CPU, and
      ``count`` is a Python float; whatever the batches' dtype, the statistics are kept
      in float64.
    - The count starts at 0 (mean 0, var 1 before any data), so the first batch is taken
      as it is. (Baselines starts at a count of 1e-4, which mixes a phantom sample with
      mean 0 and variance 1 into the first batch.)
    - An empty batch (B = 0) changes nothing.

    Args:
        shape: the shape of one value (``()`` for scalars, ``(obs_dim,)`` for
            observations).

    Trap: the mean of the batch means is not the mean of the data unless every batch
    has the same size; merging needs the counts, and the variance needs the term in
    delta^2, the spread *between* the two groups' means.
    """

    def __init__(self, shape: tuple[int, ...] | torch.Size = ()) -> None:
        ### BEGIN SOLUTION
        self.shape = tuple(shape)
        self.mean = torch.zeros(self.shape, dtype=torch.float64)
        self.var = torch.ones(self.shape, dtype=torch.float64)
        self.count = 0.0
        ### END SOLUTION

    def update(self, batch: torch.Tensor) -> None:
        """Merge a batch of values into the statistics.

        Args:
            batch: (B, *shape) float, any float dtype and device; left unchanged.
        """
        ### BEGIN SOLUTION
        batch = batch.detach().to(device="cpu", dtype=torch.float64)
        batch_count = batch.shape[0]
        if batch_count == 0:
            return
        batch_mean = batch.mean(dim=0)
        batch_var = batch.var(dim=0, correction=0)
        total = self.count + batch_count
        delta = batch_mean - self.mean
        m2 = (
            self.var * self.count
            + batch_var * batch_count
            + delta.square() * (self.count * batch_count / total)
        )
        self.mean = self.mean + delta * (batch_count / total)
        self.var = m2 / total
        self.count = total
        ### END SOLUTION


# --8<-- [end:RunningMeanStd]


# --8<-- [start:normalize_observation]
def normalize_observation(
    obs: torch.Tensor, rms: RunningMeanStd, clip: float = 10.0, eps: float = 1e-8
) -> torch.Tensor:
    """Observations scaled by running statistics, then clipped.

        clip((obs - mean) / sqrt(var + eps), -clip, clip)

    Source: OpenAI Baselines' ``VecNormalize`` (clip 10, eps 1e-8), used by the PPO
    implementations that reproduce the paper's MuJoCo results; Huang et al. (2022), "The
    37 Implementation Details of Proximal Policy Optimization", continuous-action
    details 4 and 5.

    Args:
        obs: (B, *shape) float, any float dtype and device.
        rms: the statistics to scale by: ``rms.mean`` and ``rms.var`` are float64
            tensors of shape ``shape``.
        clip: the bound of the result, > 0.
        eps: added to the variance, so that a dimension that never varied gives no
            division by zero.

    Returns:
        (B, *shape), in ``obs``'s dtype and on its device. Neither ``obs`` nor ``rms``
        changes: normalising never updates the statistics (the trainer does that, and
        only while collecting training data).

    Trap: eps goes under the square root, with the variance; ``std + eps`` is another
    function, which differs where the variance is tiny.
    """
    ### BEGIN SOLUTION
    mean = rms.mean.to(device=obs.device, dtype=torch.float64)
    var = rms.var.to(device=obs.device, dtype=torch.float64)
    scaled = (obs.to(torch.float64) - mean) / torch.sqrt(var + eps)
    return scaled.clamp(-clip, clip).to(obs.dtype)
    ### END SOLUTION


# --8<-- [end:normalize_observation]


# --8<-- [start:RewardScaler]
class RewardScaler:
    """Rewards divided by the running standard deviation of the discounted return.

    For each of N environments it keeps the discounted return of the episode so far,
    and at every step (``scaler(rewards, terminated, truncated)``):

        R      <- gamma * R + r              (per environment)
        rms.update(R)                        (the N returns, one batch)
        scaled  = clip(r / sqrt(rms.var + eps), -clip, clip)
        R      <- 0 where the episode ended (terminated or truncated)

    The rewards are divided, never shifted: subtracting a mean would change which
    behaviour is rewarded (a task of +1 per step to stay alive would reward dying).

    Source: OpenAI Baselines' and Stable-Baselines3's ``VecNormalize`` (the return's
    statistics, updated before the rewards are scaled, and the return reset at every
    episode end); Engstrom et al. (2020), "Implementation Matters in Deep Policy
    Gradients", section 3, on why reward scaling matters for PPO on MuJoCo.

    Attributes (part of the exercise):
        returns: (N,) float64, each environment's discounted return so far.
        rms: a ``RunningMeanStd()`` of scalars: the statistics of the returns.

    Args:
        num_envs: N.
        gamma: the discount of the return, the same as the agent's.
        clip: the bound of the scaled rewards, > 0.
        eps: added to the variance under the square root.

    Trap: scale by the spread of the *return*, not of the rewards: with gamma 0.99 a
    return sums about 100 rewards, and it is the return the critic has to fit. Reset it
    at every end, a time limit included: the next step starts another episode.
    """

    def __init__(
        self,
        num_envs: int,
        gamma: float,
        clip: float = 10.0,
        eps: float = 1e-8,
    ) -> None:
        ### BEGIN SOLUTION
        self.gamma = gamma
        self.clip = clip
        self.eps = eps
        self.returns = torch.zeros(num_envs, dtype=torch.float64)
        self.rms = RunningMeanStd(())
        ### END SOLUTION

    def __call__(
        self, rewards: torch.Tensor, terminated: torch.Tensor, truncated: torch.Tensor
    ) -> torch.Tensor:
        """Scale one step's rewards and update the statistics.

        Args:
            rewards: (N,) float, the rewards of one step of the N environments.
            terminated: (N,) bool or float (0/1), the episode reached a terminal state.
            truncated: (N,) bool or float (0/1), a time limit ended the episode.

        Returns:
            (N,) the scaled rewards, in ``rewards``' dtype and on its device; the inputs
            are left unchanged.
        """
        ### BEGIN SOLUTION
        r = rewards.detach().to(device="cpu", dtype=torch.float64)
        done = terminated.to("cpu").bool() | truncated.to("cpu").bool()
        self.returns = self.gamma * self.returns + r
        self.rms.update(self.returns)
        scaled = (r / torch.sqrt(self.rms.var + self.eps)).clamp(-self.clip, self.clip)
        self.returns = torch.where(done, torch.zeros_like(self.returns), self.returns)
        return scaled.to(device=rewards.device, dtype=rewards.dtype)
        ### END SOLUTION


# --8<-- [end:RewardScaler]
