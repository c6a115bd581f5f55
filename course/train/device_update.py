"""m09's PPO update, written so that nothing leaves the device until the update is over.

The algorithm is ``ppo_update`` of m09, with the graded functions of m02-m05 (ratio,
advantage normalisation, clipped surrogate, value and entropy losses, total loss) from
the chosen implementation. Two things differ:

* the diagnostics are summed as tensors and returned as tensors; the trainer reads them
  once per update, in a single transfer (m09 calls ``.item()`` at every minibatch, which
  on a GPU waits for the device each time);
* with several processes (``--nproc``), the advantages are normalised with the
  statistics of the *global* minibatch (the minibatches of every process, gathered), and
  the gradients are averaged over the processes with one all-reduce before clipping, so
  every process takes the same step and the parameters stay identical.

The minibatch order comes from a generator on the device. Early stopping on the KL
(``target_kl``) needs the KL's value on the host: one read per epoch, only when it is on.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from course.train import distributed


def _normalize(m02: Any, advantages: torch.Tensor) -> torch.Tensor:
    """m02's normalisation over the global minibatch: gather every process's minibatch,
    normalise the whole, keep this process's slice."""
    world = distributed.world_size()
    if world == 1:
        return m02.normalize_advantages(advantages)
    gathered = distributed.all_gather_cat(advantages)
    start = distributed.rank() * advantages.shape[0]
    return m02.normalize_advantages(gathered)[start : start + advantages.shape[0]]


def clip_grad_norm(params: list[nn.Parameter], max_norm: float) -> torch.Tensor:
    """``nn.utils.clip_grad_norm_(params, max_norm)`` for gradients on one device (a
    parameter without one is left out), in the same four operations, so with the same
    results to the bit, without the wrapper's grouping of the tensors by device and
    type, which costs as much again on a CPU. Returns the norm before clipping."""
    grads = [p.grad for p in params if p.grad is not None]
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total


def make_minibatch_loss(agent: nn.Module, config: Any, impl: Any):
    """The losses of one minibatch, as a function of its tensors alone (so that
    ``torch.compile`` can take it whole, forward and backward):

        loss_fn(obs, actions, old_log_probs, advantages, old_values, returns)
            -> (loss, policy_loss, value_loss, entropy (B,), ratio (B,), new_log_probs (B,))

    ``advantages`` come normalised already (over the global minibatch with several
    processes, which needs the other processes: outside what is compiled). The functions
    are m03's ratio, m04's clipped surrogate and m05's losses of ``impl``; the config's
    coefficients are constants of the function."""
    m03, m04, m05 = (impl.module(m) for m in ("m03", "m04", "m05"))
    clip_coef, clip_vloss = config.clip_coef, config.clip_vloss
    vf_coef, ent_coef = config.vf_coef, config.ent_coef

    def minibatch_loss(obs, actions, old_log_probs, advantages, old_values, returns):
        _, new_log_probs, entropy, new_values = agent.get_action_and_value(obs, actions)
        ratio = m03.probability_ratio(new_log_probs, old_log_probs)
        pg_loss = m04.clipped_surrogate_loss(advantages, ratio, clip_coef)
        v_loss = m05.value_loss(new_values, old_values, returns, clip_coef, clip_vloss, vf_coef)
        loss = m05.ppo_loss(pg_loss, v_loss, m05.entropy_loss(entropy, ent_coef))
        return loss, pg_loss, v_loss, entropy, ratio, new_log_probs

    return minibatch_loss


def ppo_update_on_device(
    agent: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: dict[str, torch.Tensor],
    config: Any,
    generator: torch.Generator,
    impl: Any,
    loss_fn: Any = None,
) -> dict[str, torch.Tensor]:
    """One PPO update (m09's ``ppo_update``) whose diagnostics stay tensors.

    Args:
        agent, optimizer, batch, config: as for m09's ``ppo_update``; every tensor of
            ``batch`` has leading size B and lives on the agent's device.
        generator: a ``torch.Generator`` on the same device (the minibatch order).
        impl: the implementation whose m02-m05 and m07 functions are used.
        loss_fn: the minibatch's losses, :func:`make_minibatch_loss`'s function (or
            that function through ``torch.compile``); None: made here, eager.

    Returns:
        0-dim tensors on the device: ``policy_loss``, ``value_loss``, ``entropy``,
        ``clip_fraction`` (means over the minibatch steps), ``approx_kl`` (mean k3 of the
        last epoch), ``explained_variance``, ``epochs``.
    """
    m02, m03, m07 = (impl.module(m) for m in ("m02", "m03", "m07"))
    if loss_fn is None:
        loss_fn = make_minibatch_loss(agent, config, impl)
    data = {key: value.detach() for key, value in batch.items()}
    size = data["obs"].shape[0]
    device = data["obs"].device
    zero = torch.zeros((), device=device)
    sums = {k: zero.clone() for k in ("policy_loss", "value_loss", "entropy", "clip_fraction")}
    steps, epochs = 0, 0
    epoch_kl = zero
    params = [p for p in agent.parameters() if p.requires_grad]
    for _ in range(config.update_epochs):
        order = torch.randperm(size, generator=generator, device=device)
        # the batch shuffled once per epoch: each minibatch is then a slice (a view), the
        # same samples as indexing with order[start:end], one gather per tensor per epoch
        shuffled = {key: value[order] for key, value in data.items()}
        kl_sum, kl_steps = zero.clone(), 0
        for start in range(0, size, config.minibatch_size):
            end = start + config.minibatch_size
            mb = {key: value[start:end] for key, value in shuffled.items()}
            old_log_probs, advantages = mb["log_probs"], mb["advantages"]
            if config.norm_adv and advantages.shape[0] * distributed.world_size() > 1:
                advantages = _normalize(m02, advantages)
            loss, pg_loss, v_loss, entropy, ratio, new_log_probs = loss_fn(
                mb["obs"], mb["actions"], old_log_probs, advantages, mb["values"], mb["returns"]
            )
            optimizer.zero_grad()
            loss.backward()
            distributed.average_gradients(params)
            clip_grad_norm(params, config.max_grad_norm)
            optimizer.step()
            with torch.no_grad():
                kl_sum = kl_sum + m03.approx_kl(old_log_probs, new_log_probs)[1]
                # m04's clip_fraction returns a Python float; the same share, kept a tensor
                outside = ((ratio - 1.0).abs() > config.clip_coef).float().mean()
                sums["clip_fraction"] += outside
                sums["policy_loss"] += pg_loss.detach()
                sums["value_loss"] += v_loss.detach()
                sums["entropy"] += entropy.detach().mean()
            kl_steps += 1
            steps += 1
        epochs += 1
        epoch_kl = distributed.mean_over_processes(kl_sum / kl_steps)
        if config.target_kl is not None and m07.should_stop_early(epoch_kl, config.target_kl):
            break
    stats = {key: total / steps for key, total in sums.items()}
    stats["approx_kl"] = epoch_kl
    values, returns = data["values"], data["returns"]
    # explained variance, 1 - Var[R - V] / Var[R] (m02), kept a tensor; nan when Var[R] = 0
    var_returns = returns.var()
    stats["explained_variance"] = torch.where(
        var_returns == 0, torch.nan, 1.0 - (returns - values).var() / var_returns
    )
    stats["epochs"] = torch.full((), float(epochs), device=device)
    return stats
