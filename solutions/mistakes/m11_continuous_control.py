"""The catalogued mistakes of m11: wrong versions of its graded functions and classes."""

from __future__ import annotations

import torch

F64 = torch.float64


class _Statistics:
    """The state of a RunningMeanStd, with the conventions of the reference."""

    def __init__(self, shape=()) -> None:
        self.shape = tuple(shape)
        self.mean = torch.zeros(self.shape, dtype=F64)
        self.var = torch.ones(self.shape, dtype=F64)
        self.count = 0.0


class EqualWeights(_Statistics):
    def update(self, batch):
        batch = batch.detach().to(F64)
        if batch.shape[0] == 0:
            return
        mean, var = batch.mean(0), batch.var(0, correction=0)
        if self.count == 0:
            self.mean, self.var = mean, var
        else:
            delta = mean - self.mean
            self.var = (self.var + var) / 2 + delta.square() / 4
            self.mean = (self.mean + mean) / 2
        self.count += batch.shape[0]


def _chan(stats, batch_mean, batch_var, n, between=True, new_mean_in_delta=False):
    total = stats.count + n
    delta = batch_mean - stats.mean
    mean = stats.mean + delta * (n / total)
    if new_mean_in_delta:
        delta = batch_mean - mean
    m2 = stats.var * stats.count + batch_var * n
    if between:
        m2 = m2 + delta.square() * (stats.count * n / total)
    stats.mean, stats.var, stats.count = mean, m2 / total, total


class SampleVariance(_Statistics):
    def update(self, batch):
        batch = batch.detach().to(F64)
        if batch.shape[0] == 0:
            return
        _chan(self, batch.mean(0), batch.var(0), batch.shape[0])


class NoBetweenTerm(_Statistics):
    def update(self, batch):
        batch = batch.detach().to(F64)
        if batch.shape[0] == 0:
            return
        _chan(self, batch.mean(0), batch.var(0, correction=0), batch.shape[0], between=False)


class MeanUpdatedFirst(_Statistics):
    def update(self, batch):
        batch = batch.detach().to(F64)
        if batch.shape[0] == 0:
            return
        _chan(
            self, batch.mean(0), batch.var(0, correction=0), batch.shape[0], new_mean_in_delta=True
        )


class Float32Statistics(_Statistics):
    def update(self, batch):
        batch = batch.detach()
        if batch.shape[0] == 0:
            return
        if self.count == 0:
            self.mean = self.mean.to(batch.dtype)
            self.var = self.var.to(batch.dtype)
        _chan(self, batch.mean(0), batch.var(0, correction=0), batch.shape[0])


class SumOfSquares(_Statistics):
    def __init__(self, shape=()) -> None:
        super().__init__(shape)
        self._sum = torch.zeros(self.shape, dtype=F64)
        self._squares = torch.zeros(self.shape, dtype=F64)

    def update(self, batch):
        batch = batch.detach().to(F64)
        if batch.shape[0] == 0:
            return
        self._sum = self._sum + batch.sum(0)
        self._squares = self._squares + batch.square().sum(0)
        self.count += batch.shape[0]
        self.mean = self._sum / self.count
        self.var = self._squares / self.count - self.mean.square()


def _normalized(obs, mean, std, clip):
    return ((obs.to(F64) - mean) / std).clamp(-clip, clip).to(obs.dtype)


def eps_outside_sqrt(obs, rms, clip=10.0, eps=1e-8):
    return _normalized(obs, rms.mean, rms.var.sqrt() + eps, clip)


def no_clip(obs, rms, clip=10.0, eps=1e-8):
    return ((obs.to(F64) - rms.mean) / torch.sqrt(rms.var + eps)).to(obs.dtype)


def divides_by_variance(obs, rms, clip=10.0, eps=1e-8):
    return _normalized(obs, rms.mean, rms.var + eps, clip)


def batch_statistics(obs, rms, clip=10.0, eps=1e-8):
    x = obs.to(F64)
    return _normalized(obs, x.mean(0), torch.sqrt(x.var(0, correction=0) + eps), clip)


def updates_statistics(obs, rms, clip=10.0, eps=1e-8):
    rms.update(obs)
    return _normalized(obs, rms.mean, torch.sqrt(rms.var + eps), clip)


def float64_result(obs, rms, clip=10.0, eps=1e-8):
    return ((obs.to(F64) - rms.mean) / torch.sqrt(rms.var + eps)).clamp(-clip, clip)


def _scaler(reference, step):
    """A RewardScaler whose call is ``step(self, r, done)`` (r float64, done bool), on the
    reference's RunningMeanStd."""

    class Wrong(reference.RewardScaler):
        def __call__(self, rewards, terminated, truncated):
            r = rewards.detach().to(F64)
            out = step(self, r, terminated.bool(), truncated.bool())
            return out.to(rewards.dtype)

    return Wrong


def _scale(self, r, var):
    return (r / torch.sqrt(var + self.eps)).clamp(-self.clip, self.clip)


def _reward_std(reference):
    def step(self, r, terminated, truncated):
        self.returns = self.gamma * self.returns + r
        self.rms.update(r)
        out = _scale(self, r, self.rms.var)
        self.returns = torch.where(terminated | truncated, 0.0, self.returns)
        return out

    return _scaler(reference, step)


def _mean_subtracted(reference):
    def step(self, r, terminated, truncated):
        self.returns = self.gamma * self.returns + r
        self.rms.update(self.returns)
        out = ((r - self.rms.mean) / torch.sqrt(self.rms.var + self.eps)).clamp(
            -self.clip, self.clip
        )
        self.returns = torch.where(terminated | truncated, 0.0, self.returns)
        return out

    return _scaler(reference, step)


def _reset_only_at_termination(reference):
    def step(self, r, terminated, truncated):
        self.returns = self.gamma * self.returns + r
        self.rms.update(self.returns)
        out = _scale(self, r, self.rms.var)
        self.returns = torch.where(terminated, 0.0, self.returns)
        return out

    return _scaler(reference, step)


def _never_reset(reference):
    def step(self, r, terminated, truncated):
        self.returns = self.gamma * self.returns + r
        self.rms.update(self.returns)
        return _scale(self, r, self.rms.var)

    return _scaler(reference, step)


def _stale_statistics(reference):
    def step(self, r, terminated, truncated):
        self.returns = self.gamma * self.returns + r
        out = _scale(self, r, self.rms.var)
        self.rms.update(self.returns)
        self.returns = torch.where(terminated | truncated, 0.0, self.returns)
        return out

    return _scaler(reference, step)


WRONG = {
    ("RunningMeanStd", "equal-weights"): EqualWeights,
    ("RunningMeanStd", "sample-variance"): SampleVariance,
    ("RunningMeanStd", "no-between-term"): NoBetweenTerm,
    ("RunningMeanStd", "mean-updated-first"): MeanUpdatedFirst,
    ("RunningMeanStd", "float32-statistics"): Float32Statistics,
    ("RunningMeanStd", "sum-of-squares"): SumOfSquares,
    ("normalize_observation", "eps-outside-sqrt"): eps_outside_sqrt,
    ("normalize_observation", "no-clip"): no_clip,
    ("normalize_observation", "divides-by-variance"): divides_by_variance,
    ("normalize_observation", "batch-statistics"): batch_statistics,
    ("normalize_observation", "updates-statistics"): updates_statistics,
    ("normalize_observation", "float64-result"): float64_result,
}

DERIVED = {
    ("RewardScaler", "reward-std"): _reward_std,
    ("RewardScaler", "mean-subtracted"): _mean_subtracted,
    ("RewardScaler", "reset-only-at-termination"): _reset_only_at_termination,
    ("RewardScaler", "never-reset"): _never_reset,
    ("RewardScaler", "stale-statistics"): _stale_statistics,
}
