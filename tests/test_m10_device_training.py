"""The on-device trainer: no host synchronisation per step, one read per update, and
data-parallel processes that keep identical parameters."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from course.batched_envs import BatchedCartPole, BatchedPendulum
from course.impl import Implementation
from course.train import distributed
from course.train.device_update import clip_grad_norm, ppo_update_on_device
from course.train.ppo import DEFAULTS, PPOConfig
from course.train.ppo_device import DeviceRollout, read_once, train_on_device

#: Tensor methods that wait for the device (on a GPU) before they return.
SYNCING = ("item", "cpu", "numpy", "tolist", "__bool__", "__float__", "__int__", "__index__")
SYNCING += ("__array__", "nonzero")


class Syncs:
    """The calls of syncing tensor methods, with the file each call came from."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def clear(self) -> None:
        self.calls.clear()

    def names(self, outside_torch: bool = False) -> dict[str, int]:
        """How many calls of each method; ``outside_torch`` leaves out the calls made by
        torch's own code (Adam's ``.item()`` of its step count, which lives on the host
        even when training on a GPU, and ``clip_grad_norm_``'s ``.to`` towards the
        gradients' own device): what is left is the course's code and the student's."""
        torch_dir = str(Path(torch.__file__).parent)
        return dict(
            Counter(n for n, f in self.calls if not (outside_torch and f.startswith(torch_dir)))
        )


@pytest.fixture
def syncs(monkeypatch):
    """Counts the calls of the syncing tensor methods (and of ``.to`` towards the CPU)."""
    record = Syncs()

    def caller() -> str:
        return sys._getframe(2).f_code.co_filename

    def counting(name, original):
        def method(self, *args, **kwargs):
            record.calls.append((name, caller()))
            return original(self, *args, **kwargs)

        return method

    for name in SYNCING:
        monkeypatch.setattr(torch.Tensor, name, counting(name, getattr(torch.Tensor, name)))
    to = torch.Tensor.to

    def to_host(self, *args, **kwargs):
        target = kwargs.get("device", args[0] if args else None)
        if isinstance(target, str | torch.device) and torch.device(target).type == "cpu":
            record.calls.append(("to(cpu)", caller()))
        return to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", to_host)
    return record


def _setup(env_cls, normalize_obs: bool, T: int = 16, N: int = 8):
    impl = Implementation("solutions")
    envs = env_cls(N, seed=3, impl=impl)
    torch.manual_seed(0)
    m09 = impl.module("m09")
    agent = m09.ActorCritic(envs.single_observation_space, envs.single_action_space, hidden=16)
    rollout = DeviceRollout(envs, agent, T, impl, normalize_obs, 0.1)
    rollout.reset(3)
    return impl, agent, rollout


@pytest.mark.parametrize(
    ("env_cls", "normalize_obs"), [(BatchedCartPole, False), (BatchedPendulum, True)]
)
def test_a_rollout_never_waits_for_the_device(syncs, env_cls, normalize_obs):
    _, _, rollout = _setup(env_cls, normalize_obs, T=300)
    next_values = rollout.collect()  # CartPole episodes end in it; Pendulum's truncate
    assert syncs.names() == {}
    assert next_values.shape == (300, 8)
    assert bool((rollout.terminated | rollout.truncated).any())


def test_the_bootstrap_values_are_the_next_steps_values():
    """With normalised observations, V(s_{t+1}) of a step whose episode goes on is the
    value the rollout recorded at step t + 1: the observation reached is normalised with
    the statistics of that step, not with those of the rollout's end."""
    _, _, rollout = _setup(BatchedPendulum, True, T=24)
    next_values = rollout.collect()  # no Pendulum episode ends within 24 steps
    assert not (rollout.terminated | rollout.truncated).any()
    torch.testing.assert_close(next_values[:-1], rollout.values[1:], rtol=1e-5, atol=1e-6)


def test_the_gymnasium_rollout_does_sync_every_step(syncs):
    """The counter works: the CPU-env collector reads every action back to the host."""
    from course.envs import make_vector_env
    from course.rollout import RolloutCollector
    from course.runlog import RunLog

    impl = Implementation("solutions")
    envs = make_vector_env("CartPole-v1", 4, 0)
    m09 = impl.module("m09")
    agent = m09.ActorCritic(envs.single_observation_space, envs.single_action_space, hidden=16)

    class Quiet(RunLog):
        def __init__(self):
            pass

        def step(self, *args):
            pass

    collector = RolloutCollector(envs, agent, 10, torch.device("cpu"), Quiet())
    collector.reset(0)
    syncs.clear()
    collector.collect(0)
    assert sum(syncs.names(outside_torch=True).values()) >= 10


def test_the_update_reads_the_device_once(syncs):
    impl, agent, rollout = _setup(BatchedCartPole, False)
    config = PPOConfig(**{**DEFAULTS["CartPole-v1"], "minibatch_size": 32, "update_epochs": 2})
    next_values = rollout.collect()
    m06 = impl.module("m06")
    advantages, returns = m06.compute_gae(
        rollout.rewards,
        rollout.values,
        next_values,
        rollout.terminated,
        rollout.truncated,
        0.99,
        0.95,
    )
    batch = rollout.flatten()
    batch["advantages"], batch["returns"] = advantages.reshape(-1), returns.reshape(-1)
    optimizer = torch.optim.Adam(agent.parameters(), lr=1e-3)
    stats = ppo_update_on_device(agent, optimizer, batch, config, torch.Generator(), impl)
    assert syncs.names(outside_torch=True) == {}
    assert all(isinstance(v, torch.Tensor) and v.dim() == 0 for v in stats.values())
    syncs.clear()
    host = read_once(stats, rollout)
    assert syncs.names() == {"cpu": 1, "numpy": 1}
    assert host["epochs"] == 2.0 and host["_rewards"].shape == (16, 8)


def test_device_update_matches_m09_diagnostics():
    """The same update as m09's ppo_update, on the same minibatches: same parameters."""
    impl, agent, rollout = _setup(BatchedCartPole, False)
    config = PPOConfig(**{**DEFAULTS["CartPole-v1"], "minibatch_size": 32, "update_epochs": 2})
    next_values = rollout.collect()
    m06, m09 = impl.module("m06"), impl.module("m09")
    adv, ret = m06.compute_gae(
        rollout.rewards,
        rollout.values,
        next_values,
        rollout.terminated,
        rollout.truncated,
        0.99,
        0.95,
    )
    batch = rollout.flatten()
    batch["advantages"], batch["returns"] = adv.reshape(-1), ret.reshape(-1)
    twin = type(agent)(rollout.envs.single_observation_space, rollout.envs.single_action_space, 16)
    twin.load_state_dict(agent.state_dict())
    opt_a = torch.optim.Adam(agent.parameters(), lr=1e-3)
    opt_b = torch.optim.Adam(twin.parameters(), lr=1e-3)
    ours = ppo_update_on_device(agent, opt_a, batch, config, torch.Generator().manual_seed(4), impl)
    theirs = m09.ppo_update(twin, opt_b, batch, config, torch.Generator().manual_seed(4))
    for a, b in zip(agent.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    for key in ("policy_loss", "value_loss", "entropy", "clip_fraction", "approx_kl"):
        assert float(ours[key]) == pytest.approx(theirs[key], rel=1e-5, abs=1e-7), key
    assert float(ours["explained_variance"]) == pytest.approx(theirs["explained_variance"])


def _rank_worker(folder: str) -> None:
    """One of two processes: a short run, comparing the parameters after every update."""
    from course.train import _SilentLog

    distributed.init_from_environment(torch.device("cpu"))
    torch.set_num_threads(1)
    rank = distributed.rank()
    impl = Implementation("solutions")
    small = {"num_envs": 4, "num_steps": 8, "minibatch_size": 16, "update_epochs": 2}
    config = PPOConfig(**{**DEFAULTS["CartPole-v1"], **small, "total_steps": 4 * 8 * 2 * 3})
    envs = BatchedCartPole(4, seed=10 + 1000 * rank, impl=impl)
    identical = []

    def compare(update, agent):
        flat = torch.cat([p.detach().reshape(-1) for p in agent.parameters()])
        both = distributed.all_gather_cat(flat[None])
        identical.append(bool(torch.equal(both[0], both[1])))

    observations = distributed.all_gather_cat(envs.reset()[0][None])
    steps = train_on_device(envs, impl, config, "cpu", _SilentLog({"seed": 5}), False, compare)
    result = {
        "identical": identical,
        "steps": steps,
        "world": distributed.world_size(),
        "own_envs": not torch.equal(observations[0], observations[1]),
    }
    Path(folder, f"rank{rank}.json").write_text(json.dumps(result))
    distributed.close()


def test_two_processes_keep_identical_parameters(tmp_path):
    distributed.spawn(2, _rank_worker, (str(tmp_path),))
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for result in results:
        assert result["world"] == 2 and result["own_envs"]
        assert result["identical"] == [True, True, True]
        assert result["steps"] == 192  # both processes' steps


def _batches(rank: int, steps: int = 5, n: int = 6) -> list[torch.Tensor]:
    """Each process's observations: its own, on different scales, so that a process
    left to itself would keep statistics of its own."""
    g = torch.Generator().manual_seed(20 + rank)
    return [(1 + 3 * rank) * torch.randn(n, 3, generator=g) + rank for _ in range(steps)]


def _normalizer_worker(folder: str) -> None:
    from course.train.ppo_device import TorchNormalizer

    distributed.init_from_environment(torch.device("cpu"))
    torch.set_num_threads(1)
    rank = distributed.rank()
    normalizer = TorchNormalizer(3, torch.device("cpu"))
    for batch in _batches(rank):
        normalizer.update(batch)
    stats = {"mean": normalizer.mean, "var": normalizer.var, "count": normalizer.count}
    torch.save(stats, Path(folder, f"rank{rank}.pt"))
    distributed.close()


def test_two_processes_share_the_normalisation_statistics(tmp_path):
    """Two processes (gloo) fed different observations end with the same statistics,
    bit for bit, and they are those of both processes' observations together."""
    from course.train.ppo_device import TorchNormalizer

    distributed.spawn(2, _normalizer_worker, (str(tmp_path),))
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert ranks[0]["count"] == ranks[1]["count"]
    assert torch.equal(ranks[0]["mean"], ranks[1]["mean"])
    assert torch.equal(ranks[0]["var"], ranks[1]["var"])
    alone = TorchNormalizer(3, torch.device("cpu"))  # one process seeing both streams
    for a, b in zip(_batches(0), _batches(1), strict=True):
        alone.update(torch.cat([a, b]))
    assert ranks[0]["count"] == pytest.approx(alone.count)
    torch.testing.assert_close(ranks[0]["mean"], alone.mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ranks[0]["var"], alone.var, rtol=1e-5, atol=1e-6)
    everything = torch.cat(_batches(0) + _batches(1))
    torch.testing.assert_close(alone.mean, everything.mean(0), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(alone.var, everything.var(0, unbiased=False), rtol=1e-3, atol=1e-3)
    # the statistics of one process alone would differ (the test can tell them apart)
    own = TorchNormalizer(3, torch.device("cpu"))
    for batch in _batches(1):
        own.update(batch)
    assert not torch.allclose(own.mean, alone.mean, atol=0.1)


def test_torch_backend_smoke_writes_the_run_files(tmp_path):
    from tests.test_isolation import run_cli

    done = run_cli(
        "train", "CartPole-v1", "--env-backend", "torch", "--impl", "solutions",
        "--total-steps", "3000", "--out", "run", "--summary", "s.json", "--no-progress",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["env_backend"] == "torch" and summary["world_size"] == 1
    assert summary["config"]["num_envs"] == 32 and summary["episodes"] > 0
    for name in ("metrics.csv", "episodes.csv", "curve.png", "summary.json"):
        assert (tmp_path / "run" / name).is_file(), name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("Acrobot-v1", "--env-backend", "torch"), "has no 'Acrobot-v1'"),
        (("CartPole-v1", "--nproc", "2"), "--nproc needs --env-backend torch"),
        (("CartPole-v1", "--env-backend", "torch", "--algo", "reinforce"), "ppo only"),
    ],
)
def test_usage_errors_are_one_line(tmp_path, args, message):
    from tests.test_isolation import run_cli

    done = run_cli("train", *args, "--impl", "solutions", "--no-progress", cwd=tmp_path)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr


def test_a_stub_in_a_child_process_is_a_one_line_error(tmp_path):
    from tests.test_isolation import run_cli

    done = run_cli(
        "train", "CartPole-v1", "--env-backend", "torch", "--nproc", "2", "--impl",
        "exercises", "--no-progress", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0
    assert "not implemented yet" in done.stderr and "Traceback" not in done.stderr


def _solves(tmp_path, *args: str) -> dict:
    from tests.test_isolation import run_cli

    done = run_cli(
        "train", *args, "--env-backend", "torch", "--impl", "solutions", "--seed", "1",
        "--summary", "s.json", "--out", "run", "--no-progress", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["solved"] is True, summary
    return summary


@pytest.mark.slow
def test_torch_backend_solves_cartpole(tmp_path):
    _solves(tmp_path, "CartPole-v1")


@pytest.mark.slow
def test_torch_backend_solves_pendulum(tmp_path):
    _solves(tmp_path, "Pendulum-v1")


@pytest.mark.slow
def test_two_processes_solve_cartpole(tmp_path):
    assert _solves(tmp_path, "CartPole-v1", "--nproc", "2")["world_size"] == 2


@pytest.mark.slow
def test_torchrun_launches_the_same_training(tmp_path):
    import subprocess

    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.is_file():
        pytest.skip("torchrun is not installed next to this Python")
    done = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "-m", "course.cli", "train", "CartPole-v1",
         "--env-backend", "torch", "--impl", "solutions", "--total-steps", "8192",
         "--summary", "s.json", "--out", "run", "--no-progress"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["world_size"] == 2 and summary["total_steps"] >= 8192


def test_the_lean_gradient_clipping_is_torchs_to_the_bit():
    torch.manual_seed(0)
    nets = [torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))]
    nets.append(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)))
    nets[1].load_state_dict(nets[0].state_dict())
    x = torch.randn(16, 4)
    for scale, max_norm in ((100.0, 0.5), (1e-3, 0.5)):  # clipped, and left as it is
        for net in nets:
            net.zero_grad()
            (scale * net(x).pow(2).sum()).backward()
        ours = clip_grad_norm(list(nets[0].parameters()), max_norm)
        theirs = torch.nn.utils.clip_grad_norm_(nets[1].parameters(), max_norm)
        assert torch.equal(ours, theirs)
        for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
            assert torch.equal(a.grad, b.grad)
    assert float(ours) < max_norm  # the second case: below the threshold, not clipped
