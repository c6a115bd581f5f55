"""Kinds of mistake, each caught by a public case or property whatever the hidden seed:
float64 inputs, a batch of one, values on the boundaries a docstring states and far
outside the usual range, gradients into every input that carries one, the numerics a
docstring promises, types and random state, and m10's promise of no host sync. For each
kind a representative wrong version loses points under the hidden seeds 1, 2 and 3, and
a public case names why."""

from __future__ import annotations

import pytest
import torch

from autograder import engine
from tests.helpers import all_checks, check_ids, check_of, run_in_process

SEEDS = (1, 2, 3)


def _caught(module_id: str, function: str, wrong, needle: str, **others) -> None:
    """``wrong`` in place of ``function`` (and ``others`` in place of other names) fails a
    public case whose name holds ``needle``, and scores below full marks as ``ppo-course
    grade`` scores it, under every seed of :data:`SEEDS`."""
    check = check_of(module_id, function)
    reference = engine.reference(check.module)
    namespace = engine.override(reference, **{function: wrong}, **others)
    for seed in SEEDS:
        result = run_in_process(check, namespace, seed=seed)
        failing = [c.case.name for c in result.cases if c.case.kind != "hidden" and not c.passed]
        assert any(needle in name for name in failing), (seed, failing)
        result.for_grade = True
        assert result.score < check.points, (seed, result.score)


@pytest.mark.slow
@pytest.mark.parametrize(("module", "check"), all_checks(), ids=check_ids())
def test_the_reference_passes_every_case_under_every_seed(module, check):
    reference = engine.reference(module)
    for seed in SEEDS:
        result = run_in_process(check, reference, seed=seed)
        failing = [(c.case.name, c.failure or c.mismatch) for c in result.cases if not c.passed]
        assert result.passed, (seed, failing)


def _ref(module_id: str, function: str):
    return getattr(engine.reference(check_of(module_id, function).module), function)


# ----------------------------------------------------------------------------- m10


def _terminated_in_float32(state):
    state = state.float()
    return (state[:, 0].abs() > 2.4) | (state[:, 2].abs() > 12 * 2 * torch.pi / 360)


def _cartpole_step_in_float32(state, action):
    return _ref("m10", "cartpole_step")(state.float(), action).to(state.dtype)


def _pendulum_step_in_float32(state, action):
    next_state, reward = _ref("m10", "pendulum_step")(state.float(), action.float())
    return next_state.to(state.dtype), reward.to(state.dtype)


def _squeezed_terminated(state):
    return _ref("m10", "cartpole_terminated")(state).squeeze()


def _early_return_autoreset(state, done, fresh):
    if not done.any():
        return state
    return _ref("m10", "autoreset")(state, done, fresh)


def _masked_autoreset(state, done, fresh):
    out = state.clone()
    out[done] = fresh[done]
    return out


def _masked_episode_stats(running_return, reward, done):
    total = running_return + reward
    finished_sum = total[done].sum()
    return torch.where(done, torch.zeros_like(total), total), finished_sum, done.sum()


@pytest.mark.parametrize(
    ("function", "wrong", "needle"),
    [
        ("cartpole_terminated", _terminated_in_float32, "float64"),
        ("cartpole_step", _cartpole_step_in_float32, "float64"),
        ("pendulum_step", _pendulum_step_in_float32, "float64"),
        ("cartpole_terminated", _squeezed_terminated, "batch of one"),
        ("autoreset", _early_return_autoreset, "no host sync"),
        ("autoreset", _masked_autoreset, "no host sync"),
        ("episode_stats", _masked_episode_stats, "no host sync"),
    ],
    ids=lambda v: getattr(v, "__name__", v) if callable(v) else None,
)
def test_m10(function, wrong, needle):
    _caught("m10", function, wrong, needle)


# ----------------------------------------------------------------------------- m03


def _ratio_in_float32(new_log_probs, old_log_probs):
    return torch.exp(new_log_probs.float() - old_log_probs.float().detach()).to(new_log_probs.dtype)


def _clamped_ratio(new_log_probs, old_log_probs):
    return torch.exp(new_log_probs - old_log_probs.detach()).clamp(max=10.0)


def _squeezed_ratio(new_log_probs, old_log_probs):
    return torch.exp(new_log_probs - old_log_probs.detach()).squeeze()


def _clamped_surrogate(ratio, advantages):
    return (ratio.clamp(max=10.0) * advantages).mean()


def _kl_old_detached(old_logits, new_logits):
    return _ref("m03", "categorical_kl")(old_logits.detach(), new_logits)


def _kl_in_float32(old_logits, new_logits):
    return _ref("m03", "categorical_kl")(old_logits.float(), new_logits.float()).to(
        old_logits.dtype
    )


def _approx_kl_exp_separately(old_log_probs, new_log_probs):
    ratio = torch.exp(new_log_probs) / torch.exp(old_log_probs)
    log_ratio = torch.log(ratio)
    return (-log_ratio).mean(), ((ratio - 1) - log_ratio).mean()


def _cg_norm_test(matvec, b, iters=10, tol=1e-10):
    x = torch.zeros_like(b)
    residual, direction = b.clone(), b.clone()
    residual_sq = residual.dot(residual)
    for _ in range(iters):
        if residual_sq.sqrt() < tol:
            break
        product = matvec(direction)
        alpha = residual_sq / direction.dot(product)
        x = x + alpha * direction
        residual = residual - alpha * product
        new_sq = residual.dot(residual)
        direction = residual + (new_sq / residual_sq) * direction
        residual_sq = new_sq
    return x


def _line_search(strict_kl: bool, strict_improvement: bool):
    def search(evaluate, full_step, expected_improve, max_kl, max_backtracks=10, accept_ratio=0.1):
        for k in range(max_backtracks):
            fraction = 0.5**k
            step = fraction * full_step
            improvement, kl = (float(v) for v in evaluate(step))
            threshold = accept_ratio * fraction * float(expected_improve)
            inside = kl < max_kl if strict_kl else kl <= max_kl
            enough = improvement > threshold if strict_improvement else improvement >= threshold
            if inside and improvement > 0 and enough:
                return True, step
        return False, torch.zeros_like(full_step)

    return search


@pytest.mark.parametrize(
    ("function", "wrong", "needle"),
    [
        ("probability_ratio", _ratio_in_float32, "float64"),
        ("probability_ratio", _clamped_ratio, "far from 1"),
        ("probability_ratio", _squeezed_ratio, "batch of one"),
        ("surrogate_objective", _clamped_surrogate, "far from 1"),
        ("categorical_kl", _kl_old_detached, "old_logits"),
        ("categorical_kl", _kl_in_float32, "float64"),
        ("approx_kl", _approx_kl_exp_separately, "very unlikely"),
        ("conjugate_gradient", _cg_norm_test, "six products"),
        ("backtracking_line_search", _line_search(True, False), "exactly max_kl"),
        ("backtracking_line_search", _line_search(False, True), "exactly at the threshold"),
    ],
    ids=lambda v: getattr(v, "__name__", v) if callable(v) else None,
)
def test_m03(function, wrong, needle):
    _caught("m03", function, wrong, needle)


# ----------------------------------------------------------------------------- m05


def _value_loss_in_float32(new_values, old_values, returns, clip_coef, clip_vloss, vf_coef):
    loss = _ref("m05", "value_loss")(
        new_values.float(), old_values.float(), returns.float(), clip_coef, clip_vloss, vf_coef
    )
    return loss.to(new_values.dtype)


def _value_loss_band_inside(new_values, old_values, returns, clip_coef, clip_vloss, vf_coef):
    """Clips only strictly outside the band, with a comparison of its own: equal on the
    edges, so it must pass."""
    unclipped = (new_values - returns) ** 2
    if not clip_vloss:
        return vf_coef * 0.5 * unclipped.mean()
    move = new_values - old_values
    clipped_move = torch.where(move.abs() <= clip_coef, move, clip_coef * move.sign())
    clipped = (old_values + clipped_move - returns) ** 2
    return 0.5 * vf_coef * torch.max(unclipped, clipped).mean()


def _step_variant(ratio_of, normalise):
    def step(
        new_log_probs,
        entropy,
        new_values,
        batch,
        clip_coef,
        ent_coef,
        vf_coef,
        clip_vloss,
        normalize_advantages,
    ):
        m04 = engine.reference(check_of("m04", "clipped_surrogate_loss").module)
        m05 = engine.reference(check_of("m05", "value_loss").module)
        ratio = ratio_of(new_log_probs, batch["log_probs"])
        advantages = batch["advantages"]
        if normalize_advantages:
            advantages = normalise(advantages)
        pg_loss = m04.clipped_surrogate_loss(advantages, ratio, clip_coef)
        v_loss = m05.value_loss(
            new_values, batch["values"], batch["returns"], clip_coef, clip_vloss, vf_coef
        )
        ent_loss = m05.entropy_loss(entropy, ent_coef)
        return {
            "loss": pg_loss + v_loss + ent_loss,
            "pg_loss": pg_loss,
            "v_loss": v_loss,
            "ent_loss": ent_loss,
        }

    return step


def _exp_of_difference(new, old):
    return torch.exp(new - old)


def _exp_separately(new, old):
    return torch.exp(new) / torch.exp(old)


def _std_plus_eps(a):
    return (a - a.mean()) / (a.std() + 1e-8)


def _sqrt_var_eps(a):
    return (a - a.mean()) / torch.sqrt(a.var() + 1e-8)


def test_m05_correct_alternatives_pass():
    for seed in SEEDS:
        for function, version in [
            ("value_loss", _value_loss_band_inside),
            ("training_step_loss", _step_variant(_exp_of_difference, _std_plus_eps)),
        ]:
            check = check_of("m05", function)
            namespace = engine.override(engine.reference(check.module), **{function: version})
            result = run_in_process(check, namespace, seed=seed)
            assert result.passed, [c.case.name for c in result.cases if not c.passed]


@pytest.mark.parametrize(
    ("function", "wrong", "needle"),
    [
        ("value_loss", _value_loss_in_float32, "float64"),
        ("training_step_loss", _step_variant(_exp_separately, _std_plus_eps), "very unlikely"),
        ("training_step_loss", _step_variant(_exp_of_difference, _sqrt_var_eps), "tiny spread"),
    ],
    ids=["value_loss_in_float32", "exp_separately", "sqrt_var_eps"],
)
def test_m05(function, wrong, needle):
    _caught("m05", function, wrong, needle)


# ----------------------------------------------------------------------------- m07


def _beta_two_thirds(beta, kl, target_kl):
    """Right: target * (2/3) is target / 1.5, one rounding step apart at most."""
    kl = float(kl)
    if kl < target_kl * (2 / 3):
        return float(beta) / 2
    if kl * (1 / 1.5) > target_kl:
        return float(beta) * 2
    return float(beta)


def _beta_capped(beta, kl, target_kl):
    return min(_ref("m07", "update_kl_beta")(beta, kl, target_kl), 35.0)


def _beta_in_float32(beta, kl, target_kl):
    kl = float(torch.as_tensor(kl, dtype=torch.float32))
    return _ref("m07", "update_kl_beta")(beta, kl, target_kl)


def _stop_numpy_bool(approx_kl, target_kl):
    import numpy as np

    if target_kl is None:
        return False
    return np.float64(float(approx_kl)) > target_kl


def _stop_if_not_target(approx_kl, target_kl):
    if not target_kl:
        return False
    return bool(float(approx_kl) > target_kl)


def _stop_in_float32(approx_kl, target_kl):
    if target_kl is None:
        return False
    return bool(torch.as_tensor(approx_kl, dtype=torch.float32) > target_kl)


def _penalty_clamped(ratio, advantages, kl, beta):
    return (ratio.clamp(max=10.0) * advantages).mean() - min(beta, 35.0) * kl


def test_m07_correct_alternatives_pass():
    check = check_of("m07", "update_kl_beta")
    namespace = engine.override(engine.reference(check.module), update_kl_beta=_beta_two_thirds)
    for seed in SEEDS:
        result = run_in_process(check, namespace, seed=seed)
        assert result.passed, [c.case.name for c in result.cases if not c.passed]


@pytest.mark.parametrize(
    ("function", "wrong", "needle"),
    [
        ("update_kl_beta", _beta_capped, "no bounds"),
        ("update_kl_beta", _beta_in_float32, "float64"),
        ("should_stop_early", _stop_numpy_bool, "Python bool"),
        ("should_stop_early", _stop_if_not_target, "target of 0.0"),
        ("should_stop_early", _stop_in_float32, "float64"),
        ("kl_penalty_objective", _penalty_clamped, "far outside"),
    ],
    ids=lambda v: getattr(v, "__name__", v) if callable(v) else None,
)
def test_m07(function, wrong, needle):
    _caught("m07", function, wrong, needle)


# ----------------------------------------------------------------------------- m08


def _actor_with_act(act):
    reference = engine.reference(check_of("m08", "GaussianActor").module)

    class GaussianActor(reference.GaussianActor):
        def act(self, obs, low, high):
            return act(self, obs, low, high)

    return GaussianActor


def _reseeded_act(actor, obs, low, high):
    torch.manual_seed(0)
    dist = actor.distribution(obs)
    action = dist.sample()
    return action, dist.log_prob(action).sum(-1), torch.clamp(action, low, high)


def _own_generator_act(actor, obs, low, high):
    dist = actor.distribution(obs)
    generator = torch.Generator(device=obs.device).manual_seed(0)
    noise = torch.randn(dist.mean.shape, generator=generator, device=obs.device)
    action = dist.mean + dist.stddev * noise
    return action, dist.log_prob(action).sum(-1), torch.clamp(action, low, high)


def _log_prob_in_float32(mean, log_std, actions):
    return _ref("m08", "gaussian_log_prob")(mean.float(), log_std.float(), actions.float()).to(
        mean.dtype
    )


def _squeezed_entropy(log_std):
    return _ref("m08", "gaussian_entropy")(log_std).squeeze()


@pytest.mark.parametrize(
    ("function", "wrong", "needle"),
    [
        ("GaussianActor", _actor_with_act(_reseeded_act), "global generator"),
        ("GaussianActor", _actor_with_act(_own_generator_act), "global generator"),
        ("gaussian_log_prob", _log_prob_in_float32, "float64"),
        ("gaussian_entropy", _squeezed_entropy, "batch of one"),
    ],
    ids=["reseeded_act", "own_generator_act", "log_prob_in_float32", "squeezed_entropy"],
)
def test_m08(function, wrong, needle):
    _caught("m08", function, wrong, needle)


# ----------------------------------------------------------------------------- m09


def _edited(module_id: str, function: str, old: str, new: str):
    """The reference's ``function`` with one piece of its source replaced (run in the
    reference module's namespace)."""
    import inspect
    import textwrap

    reference = engine.reference(check_of(module_id, function).module)
    source = textwrap.dedent(inspect.getsource(getattr(reference, function)))
    assert old in source
    namespace = dict(vars(reference))
    exec(compile(source.replace(old, new), f"<edited {function}>", "exec"), namespace)
    return namespace[function]


def _squeezing_agent():
    reference = engine.reference(check_of("m09", "ActorCritic").module)

    class ActorCritic(reference.ActorCritic):
        def get_value(self, obs):
            return self.critic(obs).squeeze()

        def get_action_and_value(self, obs, action=None):
            action, log_prob, entropy, _ = super().get_action_and_value(obs, action)
            return action, log_prob, entropy, self.get_value(obs)

    return ActorCritic


@pytest.mark.parametrize(
    ("function", "wrong", "needle"),
    [
        (
            "ppo_update",
            lambda: _edited("m09", "ppo_update", "value.detach()", "value"),
            "gradients on",
        ),
        ("ActorCritic", _squeezing_agent, "batch of one"),
    ],
    ids=["update_without_detach", "squeezed_value"],
)
def test_m09(function, wrong, needle):
    _caught("m09", function, wrong(), needle)


# ----------------------------------------------------------------------------- m04


def _clamped_surrogate_loss(advantages, ratio, clip_coef):
    return _ref("m04", "clipped_surrogate_loss")(advantages, ratio.clamp(max=10.0), clip_coef)


def _surrogate_loss_in_float32(advantages, ratio, clip_coef):
    loss = _ref("m04", "clipped_surrogate_loss")(advantages.float(), ratio.float(), clip_coef)
    return loss.to(ratio.dtype)


def _clip_fraction_in_float32(ratio, clip_coef):
    return float(((ratio.float() - 1.0).abs() > clip_coef).float().mean())


def _clip_fraction_numpy(ratio, clip_coef):
    import numpy as np

    return np.mean(np.abs(ratio.detach().cpu().numpy() - 1.0) > clip_coef)


@pytest.mark.parametrize(
    ("function", "wrong", "needle"),
    [
        ("clipped_surrogate_loss", _clamped_surrogate_loss, "far outside"),
        ("clipped_surrogate_loss", _surrogate_loss_in_float32, "float64"),
        ("clip_fraction", _clip_fraction_in_float32, "float64"),
        ("clip_fraction", _clip_fraction_numpy, "Python float"),
    ],
    ids=lambda v: getattr(v, "__name__", v) if callable(v) else None,
)
def test_m04(function, wrong, needle):
    _caught("m04", function, wrong, needle)


# ----------------------------------------------------------------------------- m01, m02, m06


def _in_float32(module_id: str, function: str):
    """The reference's ``function`` on float32 copies of its float tensors, the result cast
    back to the first input's dtype: right dtype, float32 precision."""

    def version(*args):
        dtype = args[0].dtype
        cast = [a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args]
        out = _ref(module_id, function)(*cast)
        if isinstance(out, tuple):
            return tuple(o.to(dtype) for o in out)
        return out.to(dtype) if torch.is_tensor(out) else out

    return version


def _squeezed(module_id: str, function: str):
    def version(*args):
        out = _ref(module_id, function)(*args)
        if isinstance(out, tuple):
            return tuple(o.squeeze() for o in out)
        return out.squeeze()

    return version


def _normalize_sqrt_var(advantages, eps=1e-8):
    return (advantages - advantages.mean()) / torch.sqrt(advantages.var() + eps)


def _explained_variance_in_float32(values, returns):
    var = returns.detach().float().var()
    if var == 0:
        return float("nan")
    return float(1.0 - (returns.detach().float() - values.detach().float()).var() / var)


@pytest.mark.parametrize(
    ("module_id", "function", "wrong", "needle"),
    [
        ("m01", "discounted_returns", _in_float32("m01", "discounted_returns"), "float64"),
        ("m01", "discounted_returns", _squeezed("m01", "discounted_returns"), "one environment"),
        ("m01", "categorical_log_prob", _in_float32("m01", "categorical_log_prob"), "float64"),
        ("m01", "categorical_entropy", _squeezed("m01", "categorical_entropy"), "batch of one"),
        ("m01", "policy_gradient_loss", _in_float32("m01", "policy_gradient_loss"), "float64"),
        ("m02", "advantages_from_baseline", _squeezed("m02", "advantages_from_baseline"), "one"),
        ("m02", "normalize_advantages", _in_float32("m02", "normalize_advantages"), "float64"),
        ("m02", "normalize_advantages", _normalize_sqrt_var, "tiny spread"),
        ("m02", "value_mse_loss", _in_float32("m02", "value_mse_loss"), "float64"),
        ("m02", "explained_variance", _explained_variance_in_float32, "float64"),
        ("m06", "compute_gae", _in_float32("m06", "compute_gae"), "float64"),
        ("m06", "compute_gae", _squeezed("m06", "compute_gae"), "one environment"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_m01_m02_m06(module_id, function, wrong, needle):
    _caught(module_id, function, wrong, needle)


# ----------------------------------------------------------------------------- more edges


def _entropy_detached(logits):
    return _ref("m01", "categorical_entropy")(logits).detach()


def _squeezed_act(actor, obs, low, high):
    dist = actor.distribution(obs)
    action = dist.sample()
    log_prob = dist.log_prob(action).sum(-1)
    return action.squeeze(), log_prob.squeeze(), torch.clamp(action, low, high).squeeze()


@pytest.mark.parametrize(
    ("module_id", "function", "wrong", "needle"),
    [
        ("m01", "categorical_entropy", lambda: _entropy_detached, "gradient"),
        (
            "m03",
            "conjugate_gradient",
            lambda: _edited("m03", "conjugate_gradient", "residual_sq < tol", "residual_sq <= tol"),
            "exactly at tol",
        ),
        ("m03", "conjugate_gradient", lambda: _squeezed("m03", "conjugate_gradient"), "unknown"),
        (
            "m03",
            "backtracking_line_search",
            lambda: _edited(
                "m03",
                "backtracking_line_search",
                "return True, step",
                "return True, step.squeeze()",
            ),
            "one parameter",
        ),
        ("m08", "GaussianActor", lambda: _actor_with_act(_squeezed_act), "one observation"),
    ],
    ids=["entropy_detached", "cg_inclusive_tol", "cg_squeezed", "step_squeezed", "act_squeezed"],
)
def test_more_edges(module_id, function, wrong, needle):
    _caught(module_id, function, wrong(), needle)
