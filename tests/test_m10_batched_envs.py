"""BatchedCartPole and BatchedPendulum against gymnasium's envs, over whole episodes.

Each batched env row is shadowed by a ``gym.make`` env (with its TimeLimit). Every step
both get the same action; afterwards the shadow's state is set to the batched one, so
that each step starts from the same state (the dynamics are chaotic: without it,
float rounding alone would separate the two within a few hundred steps). Rewards,
terminations, truncations at the time limit, the final observations and the autoreset
are compared at every step.
"""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest
import torch

from course.batched_envs import BatchedCartPole, BatchedPendulum, make_batched_env
from solutions import m10_gpu_training as ref


def _shadow(env_id: str, states: np.ndarray) -> list[gym.Env]:
    envs = []
    for i, state in enumerate(states):
        env = gym.make(env_id)
        env.reset(seed=i)
        env.unwrapped.state = state.astype(np.float64).copy()
        envs.append(env)
    return envs


def _controller(obs: np.ndarray, rng: np.random.Generator, eps: np.ndarray) -> np.ndarray:
    """Balances the pole (it lasts to the time limit) except where a random action is
    taken, with probability ``eps`` per env."""
    push = (0.5 * obs[:, 0] + obs[:, 1] + 20 * obs[:, 2] + 3 * obs[:, 3] > 0).astype(np.int64)
    random = rng.integers(0, 2, size=len(obs))
    return np.where(rng.random(len(obs)) < eps, random, push)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cartpole_matches_gymnasium_over_whole_episodes(dtype):
    eps = np.array([0.0, 0.0, 0.3, 0.6])
    envs = BatchedCartPole(len(eps), seed=3, impl=ref, dtype=dtype)
    obs, _ = envs.reset(seed=3)
    shadows = _shadow("CartPole-v1", envs.state.numpy())
    rng = np.random.default_rng(0)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    ends = {"terminated": 0, "truncated": 0}
    for _ in range(1500):
        actions = _controller(obs.double().numpy(), rng, eps)
        obs, reward, terminated, truncated, info = envs.step(torch.as_tensor(actions))
        assert obs.dtype == dtype and reward.shape == (4,) and terminated.dtype == torch.bool
        for i, env in enumerate(shadows):
            _, g_reward, g_term, g_trunc, _ = env.step(int(actions[i]))
            assert float(reward[i]) == g_reward
            assert (bool(terminated[i]), bool(truncated[i])) == (g_term, g_trunc)
            reached = env.unwrapped.state
            np.testing.assert_allclose(info["final_obs"][i].double().numpy(), reached, atol=tol)
            assert bool(info["_final_obs"][i]) == (g_term or g_trunc)
            if g_term or g_trunc:
                ends["terminated" if g_term else "truncated"] += 1
                env.reset()
                # the batched env reset this row within the step: a fresh start state
                assert float(envs.state[i].abs().max()) <= 0.05
                assert int(envs.steps[i]) == 0
            else:
                torch.testing.assert_close(obs[i], info["final_obs"][i])
            env.unwrapped.state = envs.state[i].double().numpy().copy()
    # envs 0 and 1 balance to the time limit twice, the others fall many times
    assert ends["truncated"] >= 4 and ends["terminated"] >= 6, ends


def test_pendulum_matches_gymnasium_over_whole_episodes():
    envs = BatchedPendulum(3, seed=5, impl=ref, dtype=torch.float64)
    obs, _ = envs.reset()
    shadows = _shadow("Pendulum-v1", envs.state.numpy())
    for i, env in enumerate(shadows):
        np.testing.assert_allclose(obs[i].numpy(), env.unwrapped._get_obs(), atol=1e-6)
    rng = np.random.default_rng(1)
    truncations = 0
    for _ in range(450):
        actions = rng.uniform(-3.0, 3.0, size=(3, 1))
        obs, reward, terminated, truncated, info = envs.step(torch.as_tensor(actions))
        assert obs.shape == (3, 3) and not terminated.any()
        for i, env in enumerate(shadows):
            g_obs, g_reward, g_term, g_trunc, _ = env.step(actions[i].astype(np.float32))
            assert abs(float(reward[i]) - g_reward) < 1e-5
            assert (bool(terminated[i]), bool(truncated[i])) == (g_term, g_trunc)
            np.testing.assert_allclose(info["final_obs"][i].numpy(), g_obs, atol=1e-6)
            if g_trunc:
                truncations += 1
                env.reset()
            env.unwrapped.state = envs.state[i].numpy().copy()
    assert truncations == 6  # steps 200 and 400 of every env


def test_same_seed_same_episodes_and_spaces():
    a = BatchedCartPole(8, seed=1, impl="solutions")
    b = BatchedCartPole(8, seed=1, impl="solutions")
    assert torch.equal(a.reset()[0], b.reset()[0])
    actions = torch.ones(8, dtype=torch.int64)
    for _ in range(30):
        out_a, out_b = a.step(actions), b.step(actions)
        assert torch.equal(out_a[0], out_b[0])
    assert a.single_observation_space.shape == (4,) and a.single_action_space.n == 2
    assert a.observation_space.shape == (8, 4) and a.action_space.shape == (8,)
    p = BatchedPendulum(5, impl="solutions")
    assert p.single_action_space.shape == (1,) and p.observation_space.shape == (5, 3)


def test_steps_return_data_that_a_clone_makes_differentiable():
    """A step runs under torch.inference_mode: its tensors are data (copied, computed
    from, fed to a network without gradients), and a clone can enter a graph."""
    envs = BatchedPendulum(4, seed=0, impl="solutions")
    envs.reset()
    obs, reward, *_ = envs.step(torch.zeros(4, 1))
    assert obs.is_inference() and not reward.requires_grad
    storage = torch.zeros(2, 4, 3)
    storage[0] = obs  # a rollout's buffer takes it
    net = torch.nn.Linear(3, 1)
    net(obs.clone()).sum().backward()
    assert net.weight.grad is not None
    with pytest.raises(RuntimeError, match=r"[Ii]nference tensor"):
        net(obs).sum().backward()  # the trap the docstring names


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_no_cartpole_episode_is_shorter_than_its_stated_minimum(dtype):
    """What the block of fresh states relies on: from anywhere in the initial box, the
    pole takes ``MIN_EPISODE_STEPS`` steps to fall, whether every push tips it further,
    every push goes one way, or the pushes are random."""
    g = torch.Generator().manual_seed(0)
    corners = torch.tensor(list(itertools.product([-0.05, 0.05], repeat=4)), dtype=dtype)
    start = torch.cat([corners, (torch.rand(20_000, 4, generator=g, dtype=dtype) - 0.5) / 10])
    n = len(start)
    policies = {
        "tip further": lambda s: (s[:, 2] + 0.02 * s[:, 3] < 0).long(),
        "always left": lambda s: torch.zeros(n, dtype=torch.int64),
        "always right": lambda s: torch.ones(n, dtype=torch.int64),
        "random": lambda s: torch.randint(0, 2, (n,), generator=g),
    }
    for name, policy in policies.items():
        state, ended = start.clone(), torch.zeros(n, dtype=torch.bool)
        for step in range(1, BatchedCartPole.MIN_EPISODE_STEPS + 1):
            state = ref.cartpole_step(state, policy(state))
            ended |= ref.cartpole_terminated(state)
            if step < BatchedCartPole.MIN_EPISODE_STEPS:
                assert not ended.any(), f"{name}: an episode ended after {step} steps"
        if name == "tip further":  # the bound is tight: the fastest falls take 8 steps
            assert ended.any()


def _reset_states(envs, steps: int, actions) -> torch.Tensor:
    """The start state of every episode begun by an autoreset over ``steps`` steps."""
    envs.reset(seed=5)
    starts = []
    for t in range(steps):
        _, _, terminated, truncated, _ = envs.step(actions(t))
        done = terminated | truncated
        starts.append(envs.state[done].clone())
    return torch.cat(starts)


@pytest.mark.parametrize(
    ("make", "steps"),
    [
        (lambda: BatchedCartPole(64, seed=5, impl=ref), 3000),
        (lambda: BatchedCartPole(16, seed=5, impl=ref, max_episode_steps=1), 200),
        (lambda: BatchedPendulum(16, seed=5, impl=ref, max_episode_steps=5), 1000),
    ],
    ids=["cartpole", "every-step-a-reset", "pendulum-short-limit"],
)
def test_no_fresh_state_is_used_twice_and_they_fill_the_box(make, steps):
    envs = make()
    g = torch.Generator().manual_seed(1)
    shape = (envs.num_envs,) if isinstance(envs, BatchedCartPole) else (envs.num_envs, 1)
    if isinstance(envs, BatchedCartPole):
        actions = lambda t: torch.randint(0, 2, shape, generator=g)  # noqa: E731
    else:
        actions = lambda t: torch.rand(shape, generator=g) * 4 - 2  # noqa: E731
    starts = _reset_states(envs, steps, actions)
    assert len(starts) > 1000
    assert len({tuple(row.tolist()) for row in starts}) == len(starts)
    high = torch.tensor(envs.initial_high, dtype=starts.dtype)
    assert bool((starts.abs() <= high).all())
    # uniform in [-high, high]: mean 0 and standard deviation high / sqrt(3), each within
    # five standard errors
    n = len(starts)
    assert bool((starts.mean(0).abs() <= 5 * high / (3 * n) ** 0.5).all())
    assert torch.allclose(starts.std(0), high / 3**0.5, rtol=2.5 * (0.8 / n) ** 0.5)


def test_unknown_env_is_a_one_line_error():
    with pytest.raises(ValueError, match="no 'Acrobot-v1'"):
        make_batched_env("Acrobot-v1", 4, "cpu", 0, "solutions")


def test_stubs_say_not_implemented():
    envs = BatchedCartPole(2, impl="exercises")
    envs.reset()
    with pytest.raises(NotImplementedError):
        envs.step(torch.zeros(2, dtype=torch.int64))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    cpu = BatchedCartPole(64, device="cpu", seed=2, impl=ref)
    gpu = BatchedCartPole(64, device="cuda", seed=2, impl=ref)
    cpu.reset()
    gpu.reset()
    gpu.state = cpu.state.cuda()
    actions = torch.randint(0, 2, (64,))
    for _ in range(5):
        a = cpu.step(actions)
        b = gpu.step(actions.cuda())
        torch.testing.assert_close(a[4]["final_obs"], b[4]["final_obs"].cpu())
        gpu.state = cpu.state.cuda()
