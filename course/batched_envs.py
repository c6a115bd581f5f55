"""Environments as tensors: N copies of CartPole-v1 or Pendulum-v1 stepped in one call.

Built on m10's graded functions (``cartpole_step``, ``cartpole_terminated``,
``pendulum_step``, ``autoreset``) of the implementation chosen with ``impl``, as the TRPO
trainer is built on m03's. The interface is gymnasium's vector API with tensors in place
of arrays, and same-step autoreset:

    obs, info = envs.reset(seed=1)                   # (N, obs_dim)
    obs, reward, terminated, truncated, info = envs.step(actions)
        # reward (N,) float; terminated, truncated (N,) bool; obs already holds the first
        # observation of a new episode where one ended, and info["final_obs"] (N, obs_dim)
        # the observation each env reached with this step (the last one of an episode that
        # ended), info["_final_obs"] (N,) bool marks the rows where an episode ended.

Every tensor stays on ``device``; a step never reads a value back to the host, so a whole
rollout runs without a synchronisation. The random initial states come from a generator
seeded by ``seed``: a ``torch.Generator`` on an accelerator, numpy's on the CPU.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from course.modules import BY_ID


def _functions(impl: Any) -> Any:
    """m10's module of ``impl``: a spec (``solutions``, ``exercises``, a folder), an
    :class:`course.impl.Implementation`, or anything that has the functions."""
    from course.impl import Implementation

    if isinstance(impl, str | Path):
        impl = Implementation(impl)
    if isinstance(impl, Implementation):
        return impl.module(BY_ID["m10"])
    return impl


class BatchedEnv:
    """What the two tasks share: the time limit, the autoreset and the spaces."""

    max_episode_steps: int
    state_dim: int

    def __init__(
        self,
        num_envs: int,
        device: str | torch.device = "cpu",
        seed: int = 0,
        impl: Any = "solutions",
        dtype: torch.dtype = torch.float32,
        max_episode_steps: int | None = None,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        self.num_envs = num_envs
        self.device = torch.device(device)
        self.dtype = dtype
        self.fns = _functions(impl)
        if max_episode_steps is not None:
            self.max_episode_steps = max_episode_steps
        self._reset_high = [float(h) for h in self.initial_high]
        self._numpy_dtype = {torch.float32: np.float32, torch.float64: np.float64}.get(dtype)
        on_host = self.device.type == "cpu" and self._numpy_dtype is not None
        high = np.array(self._reset_high, dtype=self._numpy_dtype)[:, None]
        self._width, self._half = 2 * high, high
        self.generator = torch.Generator(device=self.device)
        self._numpy_rng: np.random.Generator | None = None
        self._on_host = on_host
        self._seed(seed)
        # the wrapper's own buffers, reused at every step (never handed out): the block of
        # fresh initial states and the step counters
        block = (self.state_dim, num_envs)
        self._fresh_array = np.empty(block, dtype=self._numpy_dtype) if on_host else None
        if on_host:  # the same memory seen by torch and by numpy
            self._fresh_block = torch.from_numpy(self._fresh_array)
        else:
            self._fresh_block = torch.empty(block, device=self.device, dtype=dtype)
        self._fresh_state = self._fresh_block.t()  # (N, state_dim), columns contiguous
        shortest = min(self.MIN_EPISODE_STEPS, self.max_episode_steps)
        self.fresh_every = max(1, min(self.FRESH_EVERY, shortest // 2))
        self._fresh_age = self.fresh_every
        self.state = torch.zeros(num_envs, self.state_dim, device=self.device, dtype=dtype)
        self.steps = torch.zeros(num_envs, device=self.device, dtype=torch.int32)
        self.observation_space = spaces.Box(
            np.broadcast_to(self.single_observation_space.low, (num_envs, self.obs_dim)),
            np.broadcast_to(self.single_observation_space.high, (num_envs, self.obs_dim)),
            dtype=np.float32,
        )

    def _seed(self, seed: int) -> None:
        self.generator.manual_seed(seed)
        if self._on_host:
            self._numpy_rng = np.random.default_rng(seed)

    @property
    def obs_dim(self) -> int:
        return self.single_observation_space.shape[0]

    #: The fewest steps an episode can last, from any initial state and whatever the
    #: actions (each task says; the time limit bounds it too).
    MIN_EPISODE_STEPS: int
    #: The block of fresh initial states is drawn again every this many steps at most,
    #: and at most every ``MIN_EPISODE_STEPS // 2``: an env resets at most once in
    #: ``MIN_EPISODE_STEPS`` steps, so no fresh state is ever used twice.
    FRESH_EVERY = 8

    def _draw(self, out: torch.Tensor, array: np.ndarray | None = None) -> torch.Tensor:
        """Fill ``out`` (..., state_dim, N) with initial states, uniform in [-high, high]
        row by row. On the CPU, where ``array`` is ``out`` seen as a numpy array, numpy's
        generator (PCG64) fills it: it draws floats faster than torch's CPU generator (a
        Mersenne twister). Elsewhere, the env's ``torch.Generator`` on the device (one call
        per state variable, or one for all where every variable has the same range)."""
        if array is not None:
            self._numpy_rng.random(out=array, dtype=array.dtype)
            np.multiply(array, self._width, out=array)
            np.subtract(array, self._half, out=array)
            return out
        if len(set(self._reset_high)) == 1:
            high = self._reset_high[0]
            return out.uniform_(-high, high, generator=self.generator)
        for j, high in enumerate(self._reset_high):
            out[..., j, :].uniform_(-high, high, generator=self.generator)
        return out

    def initial_states(self, steps: int = 1) -> torch.Tensor:
        """(steps, N, state_dim) uniform in [-high, high], from the env's generator
        (squeezed to (N, state_dim) for one step). Drawn as (steps, state_dim, N) and
        returned transposed, so that the columns stay contiguous, as in the states the
        reference's steps return. A new tensor."""
        shape = (steps, self.state_dim, self.num_envs)
        if self._numpy_rng is not None:
            array = np.empty(shape, dtype=self._numpy_dtype)
            states = self._draw(torch.from_numpy(array), array).transpose(1, 2)
        else:
            out = torch.empty(shape, device=self.device, dtype=self.dtype)
            states = self._draw(out).transpose(1, 2)
        return states[0] if steps == 1 else states

    def fresh_states(self) -> torch.Tensor:
        """The fresh states (N, state_dim) that this step's resets take: one block, drawn
        again in place every :attr:`fresh_every` steps. Finding out which rows a step
        resets would cost a synchronisation on an accelerator, so every row has a state
        ready; as an env resets at most once in ``MIN_EPISODE_STEPS`` steps, and the block
        changes at least twice in that time, no state is taken twice. Only the graded
        ``autoreset`` reads the block, and that returns a new tensor."""
        if self._fresh_age == self.fresh_every:
            self._draw(self._fresh_block, self._fresh_array)
            self._fresh_age = 0
        self._fresh_age += 1
        return self._fresh_state

    @torch.inference_mode()
    def reset(self, seed: int | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        """Start an episode in every env; returns ``(obs (N, obs_dim), {})``, data like
        what :meth:`step` returns (made under ``torch.inference_mode()``, as are the step
        counters, which :meth:`step` replaces by its own results)."""
        if seed is not None:
            self._seed(seed)
        self.state = self.initial_states()
        self._fresh_age = self.fresh_every
        self.steps = torch.zeros(self.num_envs, device=self.device, dtype=torch.int32)
        return self.observe(self.state), {}

    def advance(
        self, state: torch.Tensor, steps: torch.Tensor, actions: torch.Tensor, fresh: torch.Tensor
    ):
        """One step of every env as a function of tensors alone, touching nothing of the
        wrapper's: what :meth:`step` does, for code that keeps the state itself (the
        trainer passes this, with its policy, through ``torch.compile``).

        Args:
            state: (N, state_dim), the states before the step.
            steps: (N,) int32, the steps each episode has lasted.
            actions: the actions, as :meth:`step` takes them.
            fresh: (N, state_dim), initial states for the envs whose episode ends
                (:meth:`fresh_states`).

        Returns:
            ``(reached, reward, terminated, truncated, done, state, steps)``: the states
            the step reached (N, state_dim); reward (N,); terminated, truncated, done
            (N,) bool; the states to go on from (``fresh`` where done) and the step
            counters after the step (0 where done).
        """
        reached, reward, terminated = self.transition(state, actions)
        steps = steps + 1
        truncated = steps >= self.max_episode_steps
        done = terminated | truncated
        state = self.fns.autoreset(reached, done, fresh)
        return reached, reward, terminated, truncated, done, state, steps.masked_fill(done, 0)

    @torch.inference_mode()
    def step(self, actions: torch.Tensor):
        """One step of every env, with same-step autoreset (see the module's docstring).

        Every tensor it returns is new (the next step does not overwrite it); the block
        of fresh states is the wrapper's own, updated in place. The step runs under
        ``torch.inference_mode()``, which skips autograd's bookkeeping (on the CPU a
        sixth of a step's time): what it returns is data, as gymnasium's arrays are.
        Copy it into a buffer, compute from it, feed it to a network without gradients;
        to make it part of a graph that is differentiated, ``.clone()`` it first (an
        inference tensor cannot be saved for backward)."""
        reached, reward, terminated, truncated, done, self.state, self.steps = self.advance(
            self.state, self.steps, actions, self.fresh_states()
        )
        info = {"final_obs": self.observe(reached), "_final_obs": done}
        return self.observe(self.state), reward, terminated, truncated, info

    def close(self) -> None:
        """Nothing to release (the gymnasium API has it)."""

    # what each task defines
    initial_high: tuple[float, ...]

    def observe(self, state: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def transition(self, state: torch.Tensor, actions: torch.Tensor):
        """``(reached (N, state_dim), reward (N,), terminated (N,) bool)`` of one step
        from ``state``, with the graded functions."""
        raise NotImplementedError


class BatchedCartPole(BatchedEnv):
    """CartPole-v1 as tensors: state (x, x_dot, theta, theta_dot), observation = state,
    actions (N,) int64 in {0, 1}, reward 1 per step, time limit 500, initial states
    uniform in [-0.05, 0.05]^4 (as gymnasium's ``CartPoleEnv``)."""

    max_episode_steps = 500
    #: From the initial box, the pole needs 8 steps to pass 12 degrees even when every push
    #: tips it further (``tests/test_m10_batched_envs.py`` searches for a faster fall).
    MIN_EPISODE_STEPS = 8
    state_dim = 4
    initial_high = (0.05, 0.05, 0.05, 0.05)
    single_action_space = spaces.Discrete(2)
    _high = np.array([4.8, np.inf, 2 * 12 * 2 * math.pi / 360, np.inf], dtype=np.float32)
    single_observation_space = spaces.Box(-_high, _high, dtype=np.float32)

    def __init__(self, num_envs: int, device="cpu", seed: int = 0, impl: Any = "solutions", **kw):
        super().__init__(num_envs, device, seed, impl, **kw)
        self.action_space = spaces.MultiDiscrete(np.full(num_envs, 2))
        self._ones = torch.ones(num_envs, device=self.device, dtype=self.dtype)

    def observe(self, state: torch.Tensor) -> torch.Tensor:
        return state

    def transition(self, state: torch.Tensor, actions: torch.Tensor):
        reached = self.fns.cartpole_step(state, actions)
        return reached, self._ones, self.fns.cartpole_terminated(reached)


class BatchedPendulum(BatchedEnv):
    """Pendulum-v1 as tensors: state (theta, theta_dot), observation (cos theta,
    sin theta, theta_dot), actions (N, 1) float torques (clipped to [-2, 2] by the step),
    never terminates, time limit 200, initial states uniform in [-pi, pi] x [-1, 1] (as
    gymnasium's ``PendulumEnv``)."""

    max_episode_steps = 200
    MIN_EPISODE_STEPS = 200  # it never terminates: only the time limit ends an episode
    state_dim = 2
    initial_high = (math.pi, 1.0)
    single_action_space = spaces.Box(-2.0, 2.0, shape=(1,), dtype=np.float32)
    single_observation_space = spaces.Box(
        np.array([-1.0, -1.0, -8.0], dtype=np.float32),
        np.array([1.0, 1.0, 8.0], dtype=np.float32),
        dtype=np.float32,
    )

    def __init__(self, num_envs: int, device="cpu", seed: int = 0, impl: Any = "solutions", **kw):
        super().__init__(num_envs, device, seed, impl, **kw)
        self.action_space = spaces.Box(-2.0, 2.0, shape=(num_envs, 1), dtype=np.float32)
        self._never = torch.zeros(num_envs, device=self.device, dtype=torch.bool)

    def observe(self, state: torch.Tensor) -> torch.Tensor:
        theta, theta_dot = state.unbind(-1)
        return torch.stack([torch.cos(theta), torch.sin(theta), theta_dot], dim=-1)

    def transition(self, state: torch.Tensor, actions: torch.Tensor):
        reached, reward = self.fns.pendulum_step(state, actions)
        return reached, reward, self._never


BATCHED_ENVS: dict[str, type[BatchedEnv]] = {
    "CartPole-v1": BatchedCartPole,
    "Pendulum-v1": BatchedPendulum,
}


def make_batched_env(
    env_id: str, num_envs: int, device: str | torch.device, seed: int, impl: Any
) -> BatchedEnv:
    """A :class:`BatchedEnv` for ``env_id``.

    Raises:
        ValueError: no tensor version of ``env_id`` exists.
    """
    if env_id not in BATCHED_ENVS:
        known = ", ".join(BATCHED_ENVS)
        raise ValueError(f"--env-backend torch has no {env_id!r} (it has {known})")
    return BATCHED_ENVS[env_id](num_envs, device, seed, impl)
