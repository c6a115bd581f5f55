"""m03: how far plain gradient ascent on the surrogate drifts from the data's policy.

One batch of CartPole data from a fresh policy, then many epochs of full-batch gradient
ascent on the unclipped surrogate mean(r * A) (the reference ``surrogate_objective``),
measuring after each epoch the exact mean KL(pi_old || pi_theta) (the reference
``categorical_kl``) and the sampled estimate k3. Nothing in the objective holds the
policy near the one that collected the data: the surrogate keeps rising and the KL keeps
growing, far past a trust region's radius. For comparison, one TRPO update
(``course/trpo.py``) on the same batch from the same start.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from course.envs import make_vector_env
from course.figures.style import panels, save, styled
from course.train.common import mlp

SEED = 3
NUM_ENVS = 8
NUM_STEPS = 128
EPOCHS = 20
LR = 1.0
MAX_KL = 0.01


def _batch(policy: torch.nn.Module, m01, m02) -> dict[str, torch.Tensor]:
    """One rollout of NUM_STEPS x NUM_ENVS steps and normalised reward-to-go advantages."""
    envs = make_vector_env("CartPole-v1", NUM_ENVS, SEED)
    obs, _ = envs.reset(seed=SEED)
    rows: dict[str, list] = {"obs": [], "actions": [], "rewards": [], "dones": []}
    for _ in range(NUM_STEPS):
        with torch.no_grad():
            logits = policy(torch.as_tensor(obs, dtype=torch.float32))
            actions = torch.distributions.Categorical(logits=logits).sample()
        next_obs, rewards, terminated, truncated, _ = envs.step(actions.numpy())
        rows["obs"].append(obs)
        rows["actions"].append(actions.numpy())
        rows["rewards"].append(rewards)
        rows["dones"].append(terminated | truncated)
        obs = next_obs
    envs.close()
    batch = {k: torch.as_tensor(np.stack(v)) for k, v in rows.items()}
    returns = m01.discounted_returns(batch["rewards"].float(), batch["dones"], 0.99)  # (T, N)
    return {
        "obs": batch["obs"].float().reshape(NUM_STEPS * NUM_ENVS, -1),  # (B, obs_dim)
        "actions": batch["actions"].long().reshape(-1),  # (B,)
        "advantages": m02.normalize_advantages(returns.reshape(-1)),  # (B,)
    }


def drift(epochs: int = EPOCHS, lr: float = LR) -> dict[str, list[float]]:
    """Plain gradient ascent on the surrogate; the exact KL, k3 and the surrogate after
    each epoch (epoch 0 is the data's policy); ``trpo``: the KL and the surrogate after
    one TRPO update instead."""
    import copy

    from course.impl import Implementation
    from course.trpo import TrpoFunctions, trpo_update

    impl = Implementation("solutions")
    m01, m02, m03 = impl.module("m01"), impl.module("m02"), impl.module("m03")
    torch.manual_seed(SEED)
    policy = mlp(4, 2, 64, out_scale=0.01)
    batch = _batch(policy, m01, m02)
    with torch.no_grad():
        old_logits = policy(batch["obs"])
        old_log_probs = m01.categorical_log_prob(old_logits, batch["actions"])
    out: dict[str, list[float]] = {"kl": [], "k3": [], "surrogate": []}
    trpo_policy = copy.deepcopy(policy)
    stats = trpo_update(
        trpo_policy,
        batch["obs"],
        batch["actions"],
        batch["advantages"],
        TrpoFunctions.from_impl(impl),
        max_kl=MAX_KL,
    )
    start = float(batch["advantages"].mean())  # the surrogate at r = 1
    out["trpo"] = [stats["kl"], start + stats["surrogate_improvement"]]
    optimizer = torch.optim.SGD(policy.parameters(), lr=lr)
    for epoch in range(epochs + 1):
        logits = policy(batch["obs"])
        log_probs = m01.categorical_log_prob(logits, batch["actions"])
        ratio = m03.probability_ratio(log_probs, old_log_probs)
        objective = m03.surrogate_objective(ratio, batch["advantages"])
        with torch.no_grad():
            out["kl"].append(float(m03.categorical_kl(old_logits, logits).mean()))
            out["k3"].append(float(m03.approx_kl(old_log_probs, log_probs)[1]))
            out["surrogate"].append(float(objective))
        if epoch == epochs:
            break
        optimizer.zero_grad()
        (-objective).backward()  # ascent on the objective
        optimizer.step()
    return out


@styled
def make(path: Path) -> None:
    data = drift()
    epochs = np.arange(len(data["kl"]))
    fig, (ax_kl, ax_s) = panels(2, height=3.6, sharex=True)
    ax_kl.plot(epochs, data["kl"], "o-", ms=4, color="tab:red", label="exact mean KL")
    ax_kl.plot(epochs, data["k3"], "--", color="tab:orange", label="sampled estimate k3")
    ax_kl.axhline(MAX_KL, color="tab:green", ls=":", label=f"a trust region, δ = {MAX_KL}")
    ax_kl.plot(1, data["trpo"][0], "*", ms=15, color="tab:green", label="one TRPO update")
    ax_kl.set_yscale("symlog", linthresh=1e-3)
    ax_kl.set_ylabel("KL(π_old || π_θ)")
    ax_kl.set_title("the policy drifts away from the data")
    ax_kl.legend(loc="lower right")
    ax_s.plot(epochs, data["surrogate"], "o-", ms=4, color="tab:blue", label="gradient ascent")
    ax_s.plot(1, data["trpo"][1], "*", ms=15, color="tab:green", label="one TRPO update")
    ax_s.legend(loc="lower right")
    ax_s.set_xlabel("epochs of gradient ascent on one batch")
    ax_s.set_ylabel("surrogate mean(r A)")
    ax_s.set_title("while the surrogate keeps rising")
    save(fig, path)


FIGURES = {"m03_policy_drift.png": make}
