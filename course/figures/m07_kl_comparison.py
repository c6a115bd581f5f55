"""m07: PPO-clip, PPO-penalty and early stopping, one CartPole-v1 run each, with the same
aggressive settings (10 epochs per batch, a constant learning rate of 3e-3), so that each
method has something to hold back. The figure shows, for every update, the KL between the
policy that collected the batch and the policy after the update, measured the same way for
all three (m03's k3 estimate over the whole batch), and the mean return.

PPO-penalty is not one of the course's trainers: :func:`penalty_update` below writes its
update from the graded functions (m03's ratio and KL estimate, m07's penalised objective and
adaptive coefficient, m05's value and entropy losses).
"""

from __future__ import annotations

import tempfile
import types
from pathlib import Path

import torch

from course.envs import SOLVED_THRESHOLDS, make_vector_env
from course.figures.style import panels, save, styled
from course.impl import Implementation
from course.rollout import RolloutCollector
from course.runlog import RunLog

ENV = "CartPole-v1"
UPDATES = 40
TARGET_KL = 0.01
BASE = dict(
    update_epochs=10,
    minibatch_size=256,
    norm_adv=True,
    clip_vloss=False,
    vf_coef=0.5,
    ent_coef=0.0,
    max_grad_norm=0.5,
)
VARIANTS = {
    "PPO-clip (eps 0.2)": dict(clip_coef=0.2, target_kl=None, penalty=False),
    "PPO-penalty (adaptive beta)": dict(clip_coef=0.2, target_kl=TARGET_KL, penalty=True),
    "early stopping only (no clip)": dict(clip_coef=1e9, target_kl=TARGET_KL, penalty=False),
}


def penalty_update(agent, optimizer, batch, config, generator, beta: float, impl) -> float:
    """Epochs of minibatch steps on the KL-penalised objective (no clip), then the PPO
    paper's update of beta from the KL of the whole update. Returns the new beta."""
    m02, m03, m05, m07 = (impl.module(m) for m in ("m02", "m03", "m05", "m07"))
    size = batch["obs"].shape[0]
    for _ in range(config.update_epochs):
        order = torch.randperm(size, generator=generator)
        for start in range(0, size, config.minibatch_size):
            idx = order[start : start + config.minibatch_size]
            _, new_log_probs, entropy, values = agent.get_action_and_value(
                batch["obs"][idx], batch["actions"][idx]
            )
            ratio = m03.probability_ratio(new_log_probs, batch["log_probs"][idx])
            _, kl = m03.approx_kl(batch["log_probs"][idx], new_log_probs)
            advantages = m02.normalize_advantages(batch["advantages"][idx])
            objective = m07.kl_penalty_objective(ratio, advantages, kl, beta)
            v_loss = m05.value_loss(
                values,
                batch["values"][idx],
                batch["returns"][idx],
                config.clip_coef,
                False,
                config.vf_coef,
            )
            loss = -objective + v_loss + m05.entropy_loss(entropy, config.ent_coef)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(agent.parameters(), config.max_grad_norm)
            optimizer.step()
    with torch.no_grad():
        _, new_log_probs, _, _ = agent.get_action_and_value(batch["obs"], batch["actions"])
        _, kl = m03.approx_kl(batch["log_probs"], new_log_probs)
    return m07.update_kl_beta(beta, kl.item(), config.target_kl)


def run_variant(settings: dict, seed: int = 1, impl_spec: str = "solutions") -> dict:
    """One run; per update: the KL of the update, the mean return, beta (if any).

    One torch thread, as the course's trainers use: the numbers do not depend on the
    machine's core count, or on what ran before in the same process."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    impl = Implementation(impl_spec)
    m03, m06, m09 = impl.module("m03"), impl.module("m06"), impl.module("m09")
    config = types.SimpleNamespace(**BASE, **settings)
    envs = make_vector_env(ENV, 8, seed)
    agent = m09.ActorCritic(envs.single_observation_space, envs.single_action_space)
    optimizer = torch.optim.Adam(agent.parameters(), lr=3e-3, eps=1e-5)
    generator = torch.Generator().manual_seed(seed)
    history = {"kl": [], "return": [], "beta": []}
    beta = 1.0
    with tempfile.TemporaryDirectory() as folder:
        log = RunLog(Path(folder), {"env": ENV}, SOLVED_THRESHOLDS[ENV], 1, 8, progress=False)
        collector = RolloutCollector(envs, agent, 128, torch.device("cpu"), log)
        collector.reset(seed)
        steps = 0
        for _ in range(UPDATES):
            rollout, steps = collector.collect(steps)
            with torch.no_grad():
                advantages, returns = m06.compute_gae(
                    rollout.rewards,
                    rollout.values,
                    rollout.next_values,
                    rollout.terminated,
                    rollout.truncated,
                    0.99,
                    0.95,
                )
            batch = rollout.flatten()
            batch["advantages"], batch["returns"] = advantages.reshape(-1), returns.reshape(-1)
            if config.penalty:
                beta = penalty_update(agent, optimizer, batch, config, generator, beta, impl)
            else:
                m09.ppo_update(agent, optimizer, batch, config, generator)
            with torch.no_grad():
                _, new_log_probs, _, _ = agent.get_action_and_value(batch["obs"], batch["actions"])
                _, kl = m03.approx_kl(batch["log_probs"], new_log_probs)
            history["kl"].append(kl.item())
            history["return"].append(log.episodes.recent_mean())
            history["beta"].append(beta)
    envs.close()
    return history


@styled
def comparison(path: Path) -> None:
    runs = {name: run_variant(settings) for name, settings in VARIANTS.items()}
    fig, (top, bottom) = panels(2, height=3.7, sharex=True)
    for (name, history), color in zip(
        runs.items(), ("tab:blue", "tab:orange", "tab:green"), strict=True
    ):
        updates = range(1, len(history["kl"]) + 1)
        top.plot(updates, history["kl"], color=color, label=name)
        bottom.plot(updates, history["return"], color=color, label=name)
    top.axhline(TARGET_KL, color="gray", ls="--", lw=1.2, label=f"target_kl = {TARGET_KL}")
    top.set_yscale("log")
    top.set_ylabel("KL after the update (k3)")
    top.set_title("How far each update moves the policy")
    threshold = SOLVED_THRESHOLDS[ENV]
    bottom.axhline(threshold, color="gray", ls="--", lw=1.2, label=f"solved ({threshold:g})")
    bottom.set_xlabel("update")
    bottom.set_ylabel("mean return, last 20 episodes")
    bottom.set_title("CartPole-v1, 10 epochs per batch, lr 3e-3")
    # Each panel's legend names its own lines: the dashed line of the KL panel is the
    # target, that of the returns panel the threshold.
    top.legend(loc="upper right", fontsize=9)
    bottom.legend(loc="upper left", fontsize=11)
    save(fig, path)


FIGURES = {"m07_kl_comparison.png": comparison}
