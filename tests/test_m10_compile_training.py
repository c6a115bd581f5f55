"""``ppo-course train --env-backend torch --compile``: the compiled training gives eager's
numbers on the CPU, everything is compiled before the clock starts, and the flags are
refused where they cannot work. (``--cuda-graphs`` needs CUDA: the last test trains with
it, and skips without a GPU.)"""

from __future__ import annotations

import contextlib
import time

import pytest
import torch

from course.batched_envs import make_batched_env
from course.errors import UsageError
from course.impl import Implementation
from course.train import _SilentLog
from course.train import run as train_run
from course.train.ppo import DEFAULTS, PPOConfig
from course.train.ppo_device import DeviceRollout, train_on_device

#: 8 envs of 16 steps, minibatches of 48: an epoch has two of 48 and a last one of 32,
#: so both compiled minibatch shapes are used.
SMALL = {"num_envs": 8, "num_steps": 16, "minibatch_size": 48, "update_epochs": 2}


class _Log(_SilentLog):
    """A silent log that notes how many frames torch.compile had compiled when the
    clock started."""

    def __init__(self, header):
        super().__init__(header)
        self.compiled_at_start = None

        self.events: list[str] = []

    @contextlib.contextmanager
    def warm_up(self, what: str = ""):
        self.events.append(f"warm-up {what}")
        yield
        self.events.append("warm-up done")

    def restart_clock(self) -> None:
        from torch._dynamo.utils import counters

        self.compiled_at_start = sum(counters["frames"].values())
        self.events.append("clock")


def _train(env_id: str, compile_: str | None, updates: int = 2):
    """The parameters after each update of a short run, and the run's log."""
    impl = Implementation("solutions")
    config = PPOConfig(**{**DEFAULTS[env_id], **SMALL, "total_steps": 8 * 16 * updates})
    envs = make_batched_env(env_id, config.num_envs, "cpu", 3, impl)
    snapshots = []

    def keep(update, agent):
        snapshots.append([p.detach().clone() for p in agent.parameters()])

    log = _Log({"seed": 3})
    train_on_device(envs, impl, config, torch.device("cpu"), log, False, keep, compile=compile_)
    return snapshots, log


@pytest.fixture(scope="module")
def compiler():
    """Skip where torch.compile itself does not work (no C++ compiler, a platform it
    lacks): found out on a function of one addition, so that a failure to compile the
    trainer's own code still fails its test."""
    try:
        torch.compile(lambda x: x + 1)(torch.ones(2))
    except Exception as exc:
        pytest.skip(f"torch.compile does not work here: {type(exc).__name__}: {exc}")
    torch._dynamo.reset()


@pytest.fixture
def same_random_numbers(compiler):
    """Compiled code draws its own random numbers unless told to call eager's generator:
    with this, a compiled and an eager run sample the same actions, so that what is
    compared is the arithmetic."""
    import torch._inductor.config as inductor_config

    torch._dynamo.reset()
    with inductor_config.patch(fallback_random=True):
        yield
    torch._dynamo.reset()


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_compiled_training_gives_the_eager_parameters(env_id, same_random_numbers):
    from torch._dynamo.utils import counters

    compiled, log = _train(env_id, "compile")
    eager, _ = _train(env_id, None)
    assert len(compiled) == len(eager) == 2
    for after_compiled, after_eager in zip(compiled, eager, strict=True):
        for a, b in zip(after_compiled, after_eager, strict=True):
            # the same samples, the same steps, up to rounding (fused kernels sum in
            # another order)
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # the parameters moved: the comparison is not of two untouched networks
    first = _train(env_id, None, updates=1)[0][0]
    assert any(not torch.equal(a, b) for a, b in zip(first, eager[-1], strict=True))
    # the warm-up compiled every function training calls: nothing after the clock started
    assert log.compiled_at_start is not None and log.compiled_at_start > 0
    assert sum(counters["frames"].values()) == log.compiled_at_start
    # the compiling is a phase of its own, over before the clock (and the bar) start
    assert log.events == ["warm-up compiling", "warm-up done", "clock"]


def test_the_progress_bar_shows_the_warm_up_apart_and_rates_training_steps_only(
    tmp_path, monkeypatch, capsys
):
    """A 40 s warm-up, then 1000 steps in 2 s: the bar's rate is 500 step/s and its ETA
    counts from there, where counting the warm-up would give 24 step/s."""
    import tqdm.std

    from course.runlog import RunLog

    now = [1000.0]
    monkeypatch.setattr(tqdm.std, "time", lambda: now[0])
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    log = RunLog(tmp_path, {"env": "CartPole-v1", "algo": "ppo"}, 475.0, 11_000, 8)
    with log.warm_up("compiling"):
        assert "CartPole-v1 ppo warm-up (compiling)" in log._bar.desc
        now[0] += 40.0
    log.restart_clock()
    assert log._bar.desc == "CartPole-v1 ppo"
    now[0] += 2.0
    log.log(1000, {}, 1000)
    shown = log._bar.format_dict
    assert shown["n"] == 1000 and shown["elapsed"] == 2.0
    # steps over the training's seconds alone (the smoothing's average rounds in float64)
    assert shown["rate"] == pytest.approx(500.0, rel=1e-12)
    eta = (shown["total"] - shown["n"]) / shown["rate"]
    assert eta == pytest.approx(20.0, rel=1e-12)
    assert f"<{tqdm.std.tqdm.format_interval(eta)}, 500step/s," in str(log._bar)
    log.discard()
    err = capsys.readouterr().err
    assert "CartPole-v1 ppo warm-up (compiling): 40.0 s" in err


@pytest.mark.parametrize(
    ("env_id", "normalize_obs"), [("CartPole-v1", False), ("Pendulum-v1", True)]
)
def test_the_cuda_graph_bookkeeping_keeps_the_rollout(env_id, normalize_obs):
    """With CUDA graphs a replay's results live in memory the next replay reuses, so the
    rollout copies what the next step reads. The copies change no number, and alias each
    other as the results did (CartPole's observation is its state), as the warm-up gave
    them: otherwise the step would be compiled again mid-run. (The bookkeeping runs on
    the CPU with the eager step; only the replays need CUDA.)"""
    impl = Implementation("solutions")
    m09 = impl.module("m09")
    rollouts = []
    for keep in (False, True):
        envs = make_batched_env(env_id, 8, "cpu", 3, impl)
        torch.manual_seed(0)
        agent = m09.ActorCritic(envs.single_observation_space, envs.single_action_space, 16)
        rollout = DeviceRollout(envs, agent, 24, impl, normalize_obs, 1.0)
        rollout.keep_outputs = keep
        rollout.reset(3)
        next_values = rollout.collect()
        rollouts.append((rollout, next_values))
        assert (rollout.next_obs is envs.state) == (env_id == "CartPole-v1" and not normalize_obs)
    (plain, plain_next), (kept, kept_next) = rollouts
    assert torch.equal(kept_next, plain_next)
    for name in ("obs", "final_obs", "actions", "log_probs", "values", "rewards", "terminated"):
        assert torch.equal(getattr(kept, name), getattr(plain, name)), name
    assert torch.equal(kept.envs.state, plain.envs.state)
    assert torch.equal(kept.running_return, plain.running_return)


def test_the_flags_are_refused_where_they_cannot_work(tmp_path, monkeypatch):
    import torch._dynamo

    from course.train import ppo_device

    common = {"impl": "solutions", "out": str(tmp_path / "run"), "progress": False}
    on_device = {**common, "env_backend": "torch", "device": "cpu"}
    with pytest.raises(UsageError, match="--compile needs --env-backend torch"):
        train_run("CartPole-v1", compile="compile", **common)
    with pytest.raises(UsageError, match="--cuda-graphs needs a CUDA device"):
        train_run("CartPole-v1", compile="cuda-graphs", **on_device)
    with monkeypatch.context() as patched:  # a Python or platform torch.compile lacks
        patched.setattr(torch._dynamo, "is_dynamo_supported", lambda: False)
        with pytest.raises(UsageError, match=r"torch\.compile does not work with this Python"):
            train_run("CartPole-v1", compile="compile", **on_device)
    with monkeypatch.context() as patched:  # a student's copy: no device update to compile
        patched.setattr(ppo_device, "make_minibatch_loss", None)
        with pytest.raises(UsageError, match="copy of the course does not have"):
            train_run("CartPole-v1", compile="compile", **on_device)
    assert not (tmp_path / "run").exists()  # refused before anything was written


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_compiled_and_cuda_graph_training_solve_cartpole(tmp_path):
    for flag in ("compile", "cuda-graphs"):
        summary = train_run(
            "CartPole-v1",
            impl="solutions",
            env_backend="torch",
            device="cuda",
            compile=flag,
            out=str(tmp_path / flag),
            progress=False,
            eval_episodes=0,
        )
        assert summary["compile"] == flag and summary["warmup_seconds"] > 0
        assert summary["solved"], summary


@pytest.mark.slow
def test_a_second_compiled_run_in_one_process_compiles_afresh(compiler):
    """Each run loads its implementation anew, and compiled code is specialised on the
    objects it saw: without a fresh start, every run in a process (a benchmark's) adds
    versions of the same code until torch.compile's limit, past which it runs eagerly."""
    from torch._dynamo.eval_frame import _debug_get_cache_entry_list

    from course.train.device_update import make_minibatch_loss

    code = make_minibatch_loss.__code__.co_consts
    loss_code = next(c for c in code if getattr(c, "co_name", "") == "minibatch_loss")
    _train("CartPole-v1", "compile", updates=1)
    step_code = DeviceRollout.policy_and_env_step.__code__
    first = len(_debug_get_cache_entry_list(loss_code))
    first_step = len(_debug_get_cache_entry_list(step_code))
    _, log = _train("CartPole-v1", "compile", updates=1)
    # the two minibatch shapes, once each: the first run's versions are gone
    assert first == len(_debug_get_cache_entry_list(loss_code)) == 2
    # and the rollout step's versions (from the reset's tensors, from a step's) as many
    assert 0 < first_step == len(_debug_get_cache_entry_list(step_code)) <= 2
    assert log.compiled_at_start > 0
