"""PPO with the environments on the device (``--env-backend torch``), on one or K processes.

The loop is m09's, in the same order, but nothing in it waits for the device:

    for update = 1 .. num_updates:
        anneal the learning rate                       m09 linear_annealing
        collect T steps of N batched envs              DeviceRollout (m10's envs, in course/)
            policy sampled on the device, episode returns summed there (m10 episode_stats)
        bootstrap: V(final_obs) for all T * N at once
        advantages and returns                         m06 compute_gae, on the device
        epochs x minibatches                           device_update (m09's algorithm)
        one read: diagnostics, rewards and ends        the only host synchronisation

The storage of the rollout is allocated once, on the device. Per environment step there
is no ``.item()``, ``.cpu()``, ``.numpy()`` and no Python branch on a tensor's value.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from course.train import distributed

try:
    from course.train.device_update import make_minibatch_loss, ppo_update_on_device
except ImportError:  # a student's copy of the course: the update is the student's own m09
    make_minibatch_loss = ppo_update_on_device = None

#: ``--compile`` and ``--cuda-graphs``: the ``torch.compile`` mode of each ("reduce-overhead"
#: records the compiled code's kernels as CUDA graphs and replays them).
COMPILE_MODES = {"compile": "default", "cuda-graphs": "reduce-overhead"}
#: m10's functions a step of the batched envs calls (the benchmark compiles them alone).
ENV_FUNCTIONS = ("cartpole_step", "cartpole_terminated", "pendulum_step", "autoreset")

#: Changes to PPO's defaults (course.train.ppo) for the torch backend: none at present.
#: Both backends train with the same hyperparameters, so that they compare (on
#: Pendulum-v1, 32 envs of 64-step rollouts, the same batch size, needed more steps than
#: m09's 8 envs of 256 steps).
DEVICE_DEFAULTS: dict[str, dict[str, Any]] = {}


def make_optimizer(params, lr: float, eps: float) -> torch.optim.Optimizer:
    """Adam, with its fused kernel where this torch has one for the parameters' device
    (CUDA, and the CPU from torch 2.4): one kernel for every parameter's step instead of
    about ten operations per parameter tensor, a tenth of a gradient step's time on a
    2-core CPU. Where there is none, the ``foreach`` implementation (one operation per
    step for all the tensors). The same algorithm either way: the steps agree with the
    default implementation's up to rounding."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, eps=eps, foreach=True)


class TorchNormalizer:
    """Running mean and variance of observations on the device (batched Welford), like
    :class:`course.rollout.RunningNormalizer`. With several processes every update pools
    the batches of all of them (:func:`distributed.pooled_moments`), so that every
    process keeps the same statistics and normalises alike."""

    def __init__(self, dim: int, device: torch.device, clip: float = 10.0) -> None:
        self.mean = torch.zeros(dim, device=device)
        self.var = torch.ones(dim, device=device)
        self.count = 1e-4
        self.clip = clip

    def update(self, batch: torch.Tensor) -> None:
        """Fold in a batch (B, D) of this process (and, under torch.distributed, the
        batches the other processes pass at the same step)."""
        batch_mean = batch.mean(0)
        batch_m2 = batch.var(0, unbiased=False) * batch.shape[0]
        n, batch_mean, batch_m2 = distributed.pooled_moments(batch.shape[0], batch_mean, batch_m2)
        shift = batch_mean - self.mean
        seen = self.count + n
        self.mean = self.mean + shift * n / seen
        spread = self.count * self.var + batch_m2 + shift**2 * self.count * n / seen
        self.var = spread / seen
        self.count = seen

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        return ((obs - self.mean) / torch.sqrt(self.var + 1e-8)).clamp(-self.clip, self.clip)


def aliased_copies(tensors, keep=()) -> list[torch.Tensor]:
    """Copies of ``tensors`` (but those in ``keep``, passed as they are) that alias each
    other as the originals do: a tensor given twice is copied once and comes back twice
    (CartPole's observation is its state). A compiled function is specialised on that
    aliasing, so the copies it gets must keep it."""
    copies = {id(x): x for x in keep}
    for x in tensors:
        if id(x) not in copies:
            copies[id(x)] = x.clone()
    return [copies[id(x)] for x in tensors]


class DeviceRollout:
    """T steps of N batched envs into storage preallocated on the envs' device.

    After :meth:`collect`, ``obs`` (T, N, obs_dim), ``actions`` (T, N) or (T, N, A),
    ``log_probs``, ``values``, ``rewards`` (scaled), ``raw_rewards``, ``terminated``,
    ``truncated`` (T, N), and ``episode_sums``, ``episode_counts`` (T,) hold the rollout;
    :meth:`collect` returns ``next_values`` (T, N), V(s_{t+1}) with V(final_obs) at the
    episode ends and 0 at terminations.
    """

    def __init__(self, envs, agent, num_steps: int, impl, normalize_obs: bool, reward_scale):
        T, N, device = num_steps, envs.num_envs, envs.device
        self.envs, self.agent, self.T, self.N = envs, agent, T, N
        self.m10 = impl.module("m10")
        # one step of the policy and the envs, a function of tensors (torch.compile
        # replaces it with --compile; with CUDA graphs its outputs are copied out at once)
        self.step_fn = self.policy_and_env_step
        self.keep_outputs = False
        self.reward_scale = reward_scale
        obs_dim = envs.obs_dim
        space = envs.single_action_space
        self.continuous = isinstance(space, spaces.Box)
        zeros = {"device": device}
        self.obs = torch.zeros(T, N, obs_dim, **zeros)
        self.final_obs = torch.zeros(T, N, obs_dim, **zeros)
        if self.continuous:
            self.actions = torch.zeros(T, N, *space.shape, **zeros)
            self.low = torch.as_tensor(space.low, device=device)
            self.high = torch.as_tensor(space.high, device=device)
        else:
            self.actions = torch.zeros(T, N, dtype=torch.int64, **zeros)
        for name in ("log_probs", "values", "rewards", "raw_rewards"):
            setattr(self, name, torch.zeros(T, N, **zeros))
        self.terminated = torch.zeros(T, N, dtype=torch.bool, **zeros)
        self.truncated = torch.zeros(T, N, dtype=torch.bool, **zeros)
        self.episode_sums = torch.zeros(T, **zeros)
        self.episode_counts = torch.zeros(T, dtype=torch.int64, **zeros)
        with torch.inference_mode():  # as episode_stats's results, which replace it
            self.running_return = torch.zeros(N, **zeros)
        self.normalizer = TorchNormalizer(obs_dim, device) if normalize_obs else None
        self.next_obs: torch.Tensor | None = None

    @torch.inference_mode()
    def reset(self, seed: int) -> None:
        """Reset the envs; like every observation of the rollout, the first is data (an
        inference tensor), so that a compiled step always sees the same kind of tensor."""
        obs, _ = self.envs.reset(seed=seed)
        self.next_obs = self._observe(obs)

    def _observe(self, obs: torch.Tensor) -> torch.Tensor:
        """Fold ``obs`` into the running statistics, and normalise it."""
        if self.normalizer is not None:
            self.normalizer.update(obs.float())
        return self._normalize(obs)

    def _normalize(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.float() if self.normalizer is None else self.normalizer(obs.float())

    def policy_and_env_step(self, obs, state, steps, fresh, running_return):
        """Sample the policy at ``obs``, step the envs from ``state`` with the actions
        (:meth:`BatchedEnv.advance`) and sum the episode returns (m10
        ``episode_stats``): all of a rollout step but the storage and the observation
        statistics, as one function of tensors, which ``--compile`` compiles whole.

        Returns ``(action, log_prob, value, reward, terminated, truncated, final_obs,
        obs, state, steps, running_return, finished_sum, finished_count)``: ``final_obs``
        the observation each env reached, ``obs`` the one it goes on from (a new
        episode's first where one ended), both before normalisation."""
        action, log_prob, _, value = self.agent.get_action_and_value(obs)
        env_action = torch.clamp(action, self.low, self.high) if self.continuous else action
        reached, reward, terminated, truncated, done, state, steps = self.envs.advance(
            state, steps, env_action, fresh
        )
        reward = reward.float()
        running_return, finished, count = self.m10.episode_stats(running_return, reward, done)
        final_obs, obs = self.envs.observe(reached), self.envs.observe(state)
        return (action, log_prob, value, reward, terminated, truncated, final_obs, obs,
                state, steps, running_return, finished, count)  # fmt: skip

    @torch.inference_mode()
    def collect(self) -> torch.Tensor:
        """Run the rollout (under ``torch.inference_mode()``, which skips autograd's
        bookkeeping: what it writes into the storage is data for the update)."""
        envs = self.envs
        for t in range(self.T):
            self.obs[t] = self.next_obs
            if self.keep_outputs:  # CUDA graphs: this replay may reuse the last one's memory
                torch.compiler.cudagraph_mark_step_begin()
            out = self.step_fn(
                self.next_obs, envs.state, envs.steps, envs.fresh_states(), self.running_return
            )
            action, log_prob, value, reward, terminated, truncated, final_obs, obs = out[:8]
            state, steps, running_return, finished, count = out[8:]
            if self.keep_outputs:  # what the next step reads must outlive this replay
                feed = aliased_copies((obs, state, steps, running_return))
                obs, state, steps, running_return = feed
            envs.state, envs.steps, self.running_return = state, steps, running_return
            self.actions[t] = action
            self.log_probs[t] = log_prob
            self.values[t] = value
            self.raw_rewards[t] = reward
            self.rewards[t] = reward if self.reward_scale == 1.0 else reward * self.reward_scale
            self.terminated[t] = terminated
            self.truncated[t] = truncated
            self.episode_sums[t] = finished
            self.episode_counts[t] = count
            self.next_obs = self._observe(obs)
            # the observation reached, normalised now, with the statistics that normalise
            # next_obs: where the episode goes on, V of it is the value of the next step
            self.final_obs[t] = self._normalize(final_obs)
        # --8<-- [start:bootstrap]
        # V(s_{t+1}) for every step in one pass: final_obs[t] is the observation step t
        # reached (the next one where the episode goes on, the last one where it ended)
        reached = self.final_obs.reshape(self.T * self.N, -1)
        next_values = self.agent.get_value(reached).reshape(self.T, self.N)
        return torch.where(self.terminated, torch.zeros_like(next_values), next_values)
        # --8<-- [end:bootstrap]

    def flatten(self) -> dict[str, torch.Tensor]:
        B = self.T * self.N
        return {
            "obs": self.obs.reshape(B, -1),
            "actions": self.actions.reshape(B, *self.actions.shape[2:]),
            "log_probs": self.log_probs.reshape(B),
            "values": self.values.reshape(B),
        }


def read_once(stats: dict[str, torch.Tensor], rollout: DeviceRollout) -> dict[str, Any]:
    """The update's single transfer to the host: the diagnostics, the rollout's raw
    rewards and ends (of every process, for the episode log) and the episode sums."""
    keys = list(stats)
    vector = torch.stack([stats[k].float() for k in keys])
    ended = (
        distributed.mean_over_processes(
            torch.stack([rollout.episode_sums.sum(), rollout.episode_counts.sum().float()])
        )
        * distributed.world_size()
    )
    done = (rollout.terminated | rollout.truncated).float()
    rewards = distributed.all_gather_cat(rollout.raw_rewards.T.contiguous()).T  # (T, K N)
    done = distributed.all_gather_cat(done.T.contiguous()).T
    payload = torch.cat([vector, ended, rewards.reshape(-1), done.reshape(-1)]).cpu().numpy()
    k = len(keys)
    shape = rewards.shape
    size = shape[0] * shape[1]
    out = {key: float(payload[i]) for i, key in enumerate(keys)}
    out["episode_return"] = float(payload[k] / payload[k + 1]) if payload[k + 1] else np.nan
    out["_rewards"] = payload[k + 2 : k + 2 + size].reshape(shape)
    out["_dones"] = payload[k + 2 + size :].reshape(shape) > 0.5
    return out


def compile_training(rollout: DeviceRollout, loss_fn, mode: str):
    """Pass the per-step and per-minibatch code through ``torch.compile`` (``mode`` as
    :data:`COMPILE_MODES`): the rollout's step (the policy's sampling, m10's env
    functions, the autoreset and episode_stats, :meth:`DeviceRollout.policy_and_env_step`)
    as one function, and the minibatch loss (forward and backward) as another. The
    Python around them (the loop, the storage, the observation statistics, the
    optimizer) stays as it is. Shapes are static: a rollout step always has N rows, a
    minibatch ``minibatch_size`` (and the last, smaller one, its own compiled version).
    Returns the compiled loss function.

    One function per step, rather than one per piece: a compiled function's call costs
    tens of microseconds on a CPU (its guards and wrappers) whatever it computes, and
    with CUDA graphs each call is one replay."""

    def compiled(fn):
        return torch.compile(fn, mode=mode, dynamic=False)

    # What an earlier run in this process compiled is specialised on that run's objects
    # (its implementation's modules, its agent): each later run would add versions of the
    # same code until torch.compile's limit, past which it runs eagerly. Start afresh.
    torch._dynamo.reset()

    rollout.step_fn = compiled(rollout.policy_and_env_step)
    rollout.keep_outputs = mode == "reduce-overhead"
    return compiled(loss_fn)


def warm_up(envs, rollout: DeviceRollout, loss_fn, agent, config, calls: int = 1) -> float:
    """Compile before the clock starts: call every compiled function ``calls`` times with
    the shapes (and kinds of tensor) training will give it, changing nothing that
    training reads (the envs' state, the random number generators, the optimizer, the
    gradients). (With CUDA graphs, a function's first call compiles it and a later one
    records its graph: three calls do both.) Returns the seconds taken."""
    start = time.perf_counter()
    device = envs.device
    cpu_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    B = config.num_steps * config.num_envs
    sizes = {min(config.minibatch_size, B)} | ({B % config.minibatch_size} - {0})
    batch = rollout.flatten()
    for _ in range(calls):
        with torch.inference_mode():
            fresh = envs._fresh_state  # the block as it is (only read): no new states drawn
            inputs = [rollout.next_obs, envs.state, envs.steps, fresh, rollout.running_return]
            # from copies of the reset's tensors, then from a step's own (whose layout may
            # differ): each is a version of the compiled step
            for _ in range(2):
                inputs = aliased_copies(inputs, keep=(fresh,))
                if rollout.keep_outputs:
                    torch.compiler.cudagraph_mark_step_begin()
                out = rollout.step_fn(*inputs)
                inputs = [rollout._normalize(out[7]), out[8], out[9], fresh, out[10]]
        for size in sorted(sizes):
            old_log_probs, advantages, values, returns = (
                torch.zeros(size, device=device) for _ in range(4)
            )
            obs, actions = batch["obs"][:size], batch["actions"][:size]
            loss, *_ = loss_fn(obs, actions, old_log_probs, advantages, values, returns)
            loss.backward()
            for p in agent.parameters():
                p.grad = None
    torch.set_rng_state(cpu_rng)
    if cuda_rng is not None:
        torch.cuda.set_rng_state(cuda_rng, device)
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def train_on_device(
    envs, impl, config, device, log, stop_when_solved: bool, on_update=None, compile=None
) -> int:
    """Train PPO with batched envs on ``device`` until ``config.total_steps`` (all
    processes together) or, if asked, until solved. Returns the steps taken.

    ``on_update(update, agent)``, when given, is called after every update (the tests
    use it to compare the processes' parameters). ``compile``: None (eager), or a key of
    :data:`COMPILE_MODES`; the compiling is done before the clock starts, and its time
    is in the log's header as ``warmup_seconds``."""
    m06, m09 = impl.module("m06"), impl.module("m09")
    seed, world = int(log.header.get("seed", 0)), distributed.world_size()
    torch.manual_seed(seed)  # the same initial parameters in every process
    agent = m09.ActorCritic(
        envs.single_observation_space, envs.single_action_space, hidden=config.hidden
    ).to(device)
    distributed.broadcast_parameters(agent)
    torch.manual_seed(seed + 7919 * distributed.rank())  # each process samples its own
    optimizer = make_optimizer(agent.parameters(), config.lr, config.adam_eps)
    generator = torch.Generator(device=device).manual_seed(seed + distributed.rank())
    rollout = DeviceRollout(
        envs, agent, config.num_steps, impl, config.normalize_obs, config.reward_scale
    )
    rollout.reset(seed + 1000 * distributed.rank())
    loss_fn = None
    if compile is not None:
        if make_minibatch_loss is None:
            raise RuntimeError("--compile needs the course's device update (instructor's copy)")
        loss_fn = compile_training(
            rollout, make_minibatch_loss(agent, config, impl), COMPILE_MODES[compile]
        )
        calls = 3 if COMPILE_MODES[compile] == "reduce-overhead" else 1
        with log.warm_up("compiling"):
            seconds = warm_up(envs, rollout, loss_fn, agent, config, calls)
        log.header["warmup_seconds"] = round(seconds, 2)
    log.keep_agent("actor_critic", agent, rollout.normalizer)
    log.restart_clock()
    per_update = config.num_steps * config.num_envs * world
    num_updates = max(1, config.total_steps // per_update)
    global_step = 0
    # --8<-- [start:loop]
    for update in range(1, num_updates + 1):
        lr = config.lr
        if config.anneal_lr:
            lr = m09.linear_annealing(optimizer, update, num_updates, config.lr)
        next_values = rollout.collect()
        with torch.no_grad():
            advantages, returns = m06.compute_gae(
                rollout.rewards,
                rollout.values,
                next_values,
                rollout.terminated,
                rollout.truncated,
                config.gamma,
                config.gae_lambda,
            )
        batch = rollout.flatten()  # (T, N, ...) -> (B, ...)
        batch["advantages"] = advantages.reshape(-1)
        batch["returns"] = returns.reshape(-1)
        if ppo_update_on_device is not None:
            stats = ppo_update_on_device(
                agent,
                optimizer,
                batch,
                config,
                generator,
                impl,
                loss_fn,
            )
        else:
            stats = own_update(agent, optimizer, batch, config, seed + update, impl)
        host = read_once(stats, rollout)  # the one synchronisation of the update
        rewards, dones = host.pop("_rewards"), host.pop("_dones")
        step_size = per_update // config.num_steps
        for t in range(config.num_steps):
            log.step(rewards[t], dones[t], global_step + (t + 1) * step_size)
        global_step += per_update
        host["learning_rate"] = lr
        log.log(global_step, host, per_update)
        if on_update is not None:
            on_update(update, agent)
        if stop_when_solved and distributed.agree(log.solved):
            break
    # --8<-- [end:loop]
    return global_step


def own_update(agent, optimizer, batch, config, seed: int, impl: Any) -> dict[str, torch.Tensor]:
    """The implementation's own m09 ``ppo_update``, where the course's device-resident
    update is not installed (a student's copy: that update is m09's algorithm, so it stays
    with the instructor). Its diagnostics are floats, read at every minibatch; they are
    turned back into tensors on the agent's device for :func:`read_once`."""
    if distributed.world_size() > 1:
        raise RuntimeError("--nproc needs the course's distributed update (instructor's copy)")
    m09 = impl.module("m09")
    device = next(agent.parameters()).device
    stats = m09.ppo_update(agent, optimizer, batch, config, torch.Generator().manual_seed(seed))
    return {
        key: torch.as_tensor(float(value), device=device)
        for key, value in stats.items()
        if isinstance(value, int | float) or torch.is_tensor(value)
    }
