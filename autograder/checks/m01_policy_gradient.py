"""Checks and known mistakes for m01, the vanilla policy gradient."""

from __future__ import annotations

import math
from typing import Any

import torch

from autograder import draw
from autograder.checks import (
    HIDDEN_WEIGHT,
    batch_of_one_property,
    device_property,
    float64_property,
)
from autograder.core import Check, Fixture, Hidden, Mistake, Property
from autograder.fixtures import bind_stored, stored
from autograder.probes import grad_wrt_first, without_distributions
from course.modules import BY_ID

MODULE = BY_ID["m01"]

# ==== discounted_returns


def _returns_inputs(
    seed: int, T: int, N: int, p_done: float, gamma: float, float_dones=False, dtype=None
):
    g = draw.generator(seed)
    rewards = draw.normal(g, T, N).to(dtype or torch.float32)
    dones = draw.flags(g, T, N, p=p_done)
    return {
        "rewards": rewards,
        "dones": dones.float() if float_dones else dones,
        "gamma": gamma,
    }


def _draw_returns(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(4):
        T, N = draw.size(g, 3, 9), draw.size(g, 1, 4)
        rewards, dones = draw.normal(g, T, N), draw.flags(g, T, N, p=0.3)
        # every rollout has an episode end before its last step (the cut is graded), and
        # right after it an episode that lasts at least two steps (the direction of the sum)
        end, env = draw.size(g, 0, T - 3), draw.size(g, 0, N - 1)
        dones[end, env], dones[end + 1, env] = True, False
        cases.append(
            (
                f"random rollout {i + 1} (T={T}, N={N})",
                {"rewards": rewards, "dones": dones, "gamma": draw.scalar(g, 0.8, 1.0)},
            )
        )
    return cases


DISCOUNTED_RETURNS = Check(
    MODULE,
    "discounted_returns",
    points=3,
    summary="reward-to-go cut at episode ends",
    fixtures=[
        Fixture(
            "hand: one episode, gamma 0.5",
            {
                "rewards": torch.tensor([[1.0], [2.0], [3.0]]),
                "dones": torch.tensor([[False], [False], [True]]),
                "gamma": 0.5,
            },
            note="G_2 = 3, G_1 = 2 + 0.5 * 3 = 3.5, G_0 = 1 + 0.5 * 3.5 = 2.75",
            expected=torch.tensor([[2.75], [3.5], [3.0]]),
        ),
        Fixture(
            "hand: an episode ends mid-rollout in one env",
            {
                "rewards": torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 10.0]]),
                "dones": torch.tensor(
                    [[False, False], [True, False], [False, False], [False, False]]
                ),
                "gamma": 0.9,
            },
            note="env 0 restarts after step 1, so G_1 = 1 and G_0 = 1 + 0.9 * 1; env 1 never "
            "ends: the 10 at the last step is discounted back, 10 * 0.9^t",
            expected=torch.tensor([[1.9, 7.29], [1.0, 8.1], [1.9, 9.0], [1.0, 10.0]]),
        ),
        Fixture(
            "random rollout, bool dones",
            lambda: _returns_inputs(1, T=6, N=3, p_done=0.3, gamma=0.99),
            note="several episode ends at different steps in different envs",
        ),
        Fixture(
            "random rollout, float dones",
            lambda: _returns_inputs(2, T=5, N=2, p_done=0.4, gamma=0.95, float_dones=True),
            note="dones stored as 0.0/1.0 floats, as many rollout buffers do",
        ),
        Fixture(
            "gamma 1, done at the last step",
            {
                "rewards": torch.tensor([[1.0], [1.0], [1.0], [1.0]]),
                "dones": torch.tensor([[False], [False], [False], [True]]),
                "gamma": 1.0,
            },
            note="undiscounted: the reward-to-go counts the steps left, 4, 3, 2, 1",
        ),
    ],
    hidden=[Hidden(_draw_returns, weight=HIDDEN_WEIGHT)],
    properties=[
        float64_property(lambda: _returns_inputs(7, T=4, N=3, p_done=0.3, gamma=0.99)),
        batch_of_one_property(
            lambda: _returns_inputs(8, T=5, N=1, p_done=0.3, gamma=0.9),
            name="one environment",
            note="N = 1: the returns are (T, 1), not (T,)",
        ),
        device_property(
            lambda: _returns_inputs(7, T=4, N=2, p_done=0.3, gamma=0.9),
            note="torch.zeros(T, N) without device= makes a CPU tensor even for inputs on a "
            "GPU: use zeros_like, new_zeros or device=rewards.device",
        ),
        Property(
            "gamma 0 gives the rewards",
            lambda: _returns_inputs(3, T=5, N=3, p_done=0.3, gamma=0.0),
            note="with no discounting of the future, G_t = r_t",
            expect=lambda inputs: inputs["rewards"],
        ),
        Property(
            "gamma 1 and no ends gives a reverse cumulative sum",
            lambda: _returns_inputs(4, T=6, N=2, p_done=0.0, gamma=1.0),
            note="G_t = r_t + r_{t+1} + ... + r_{T-1}",
            expect=stored("reverse_cumsum"),
        ),
        Property(
            "an end at every step gives the rewards",
            lambda: _returns_inputs(5, T=4, N=3, p_done=1.1, gamma=0.9),
            note="every episode lasts one step, so nothing is added from later steps",
            expect=lambda inputs: inputs["rewards"],
        ),
        Property(
            "float64 rewards give float64 returns",
            lambda: _returns_inputs(6, T=3, N=2, p_done=0.3, gamma=0.9, dtype=torch.float64),
            note="the returns have the rewards' dtype and shape",
            predicate=lambda received, inputs: (
                None
                if isinstance(received, torch.Tensor)
                and received.dtype == torch.float64
                and received.shape == inputs["rewards"].shape
                else f"expected a float64 tensor of shape {tuple(inputs['rewards'].shape)}"
            ),
        ),
    ],
    mistakes=[
        Mistake(
            "no-cut",
            "the return is not cut where an episode ends",
            "Rewards from the next episode leak into the return of the previous one. Multiply "
            "the running return by (1 - done_t) before adding it to step t.",
        ),
        Mistake(
            "next-done",
            "the cut uses the done flag of step t+1",
            "Here done_t means the episode ended right after step t (after r_t). Some code bases "
            "store 'this observation starts an episode' instead and read dones[t + 1]; mixing "
            "the two conventions cuts one step late.",
        ),
        Mistake(
            "forward",
            "the sum runs forward in time",
            "G_t is the reward-to-go: what comes after step t, discounted. Accumulating from "
            "t = 0 upwards gives the discounted reward so far instead; loop backwards.",
        ),
        Mistake(
            "drop-last-reward",
            "the reward of the last step of an episode is dropped",
            "done_t cuts what comes after r_t, not r_t itself: G_t = r_t + gamma * (1 - done_t) "
            "* G_{t+1}.",
        ),
        Mistake(
            "loop-skips-last-step",
            "the reverse loop skips the last step",
            "reversed(range(T - 1)) never visits t = T - 1, so G_{T-1} stays 0 and every "
            "return misses the last reward: loop over reversed(range(T)), from G_T = 0.",
        ),
    ],
)


# ==== categorical_log_prob


def _logits_inputs(seed: int, B: int, A: int, scale: float = 1.0):
    g = draw.generator(seed)
    return {"logits": draw.normal(g, B, A, scale=scale), "actions": draw.integers(g, 0, A, B)}


def _draw_logits(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(3):
        B, A = draw.size(g, 1, 8), draw.size(g, 2, 6)
        logits = draw.normal(g, B, A, scale=2.0).requires_grad_(True)  # the policy's output
        cases.append(
            (
                f"random batch {i + 1} (B={B}, A={A}, logits require grad)",
                {"logits": logits, "actions": draw.integers(g, 0, A, B)},
            )
        )
    return cases


CATEGORICAL_LOG_PROB = Check(
    MODULE,
    "categorical_log_prob",
    points=2,
    summary="log pi(a|s) by log-softmax and gather",
    fixtures=[
        Fixture(
            "hand: two actions",
            {
                "logits": torch.tensor([[0.0, 0.0], [0.0, math.log(3.0)]]),
                "actions": torch.tensor([0, 1]),
            },
            note="row 0 is uniform, log 0.5 = -0.693147; row 1 has probabilities (1/4, 3/4), "
            "log 0.75 = -0.287682",
            expected=torch.tensor([-0.6931472, -0.2876821]),
        ),
        Fixture(
            "random batch",
            lambda: _logits_inputs(11, B=6, A=4, scale=1.5),
            note="a batch of six states, four actions",
        ),
        Fixture(
            "a batch of one",
            lambda: _logits_inputs(12, B=1, A=3),
            note="B = 1: the result is (1,), not a scalar (squeeze(-1), not squeeze())",
        ),
        Fixture(
            "large logits",
            {
                "logits": torch.tensor([[1000.0, 0.0], [0.0, -1000.0]]),
                "actions": torch.tensor([1, 1]),
            },
            note="the log-probabilities are -1000: finite, though the probabilities underflow",
        ),
    ],
    hidden=[Hidden(_draw_logits, weight=HIDDEN_WEIGHT)],
    properties=[
        float64_property(lambda: _logits_inputs(13, B=5, A=4, scale=2.0)),
        Property(
            "agrees with torch.distributions.Categorical",
            lambda: _logits_inputs(12, B=16, A=5, scale=3.0),
            expect=stored("torch_log_prob"),
        ),
        Property(
            "gradient is onehot(a) - softmax(logits)",
            lambda: _logits_inputs(13, B=5, A=3),
            note="d log pi(a) / d logits = onehot(a) - pi: the policy gradient flows through "
            "this function, so a detached or numpy log-probability trains nothing",
            probe=grad_wrt_first,
            expect=stored("log_prob_gradient"),
            core=True,
        ),
        Property(
            "finite for an action far behind the others",
            lambda: {
                "logits": torch.tensor([[200.0, 0.0, -200.0], [0.0, 150.0, -100.0]]),
                "actions": torch.tensor([2, 0]),
            },
            note="the log-probabilities are -400 and -150, though the probabilities "
            "underflow to 0 in float32",
            expect=stored("torch_log_prob"),
        ),
        Property(
            "written without torch.distributions",
            lambda: _logits_inputs(14, B=3, A=3),
            note="the exercise is to write the log-softmax and the gather",
            probe=without_distributions,
            expect=stored("torch_log_prob"),
        ),
    ],
    mistakes=[
        Mistake(
            "log-of-softmax",
            "log(softmax(logits)) instead of log_softmax(logits)",
            "Mathematically equal, numerically not: softmax underflows to 0 for an action far "
            "behind the others, and log 0 = -inf. torch.log_softmax subtracts the largest logit "
            "first and stays finite.",
            kind="edge",
        ),
        Mistake(
            "softmax-dim",
            "the softmax normalises over the batch, not over the actions",
            "logits are (B, A): normalise along the last dimension (dim=-1), so each row is a "
            "distribution over actions.",
        ),
        Mistake(
            "raw-logits",
            "the logit of the action is returned without normalising",
            "A logit is an unnormalised log-probability: subtract log sum_b exp(logits_b), which "
            "is what log_softmax does.",
        ),
        Mistake(
            "probability",
            "the probability is returned instead of its log",
            "The policy gradient needs grad log pi(a|s); take the log-softmax, not the softmax.",
        ),
    ],
)


# ==== categorical_entropy


def _entropy_inputs(seed: int, B: int, A: int, scale: float = 1.0):
    return {"logits": draw.normal(draw.generator(seed), B, A, scale=scale)}


def _draw_entropy(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(3):
        B, A = draw.size(g, 1, 8), draw.size(g, 2, 6)
        logits = draw.normal(g, B, A).requires_grad_(True)  # the entropy bonus backpropagates
        cases.append(
            (f"random batch {i + 1} (B={B}, A={A}, logits require grad)", {"logits": logits})
        )
    return cases


def _entropy_in_range(received, inputs):
    if not isinstance(received, torch.Tensor):
        return "expected a tensor"
    bound = math.log(inputs["logits"].shape[-1])
    if received.shape != inputs["logits"].shape[:1]:
        return f"expected shape {tuple(inputs['logits'].shape[:1])}, got {tuple(received.shape)}"
    if not torch.isfinite(received).all():
        return "some entropies are not finite"
    if (received < -1e-6).any() or (received > bound + 1e-5).any():
        return f"entropies must lie in [0, log A] = [0, {bound:.4f}]"
    return None


CATEGORICAL_ENTROPY = Check(
    MODULE,
    "categorical_entropy",
    points=2,
    summary="entropy of a softmax policy",
    fixtures=[
        Fixture(
            "hand: two actions",
            {"logits": torch.tensor([[0.0, 0.0], [0.0, math.log(3.0)]])},
            note="uniform: log 2 = 0.693147; (1/4, 3/4): 0.25 log 4 + 0.75 log(4/3) = 0.562335",
            expected=torch.tensor([0.6931472, 0.5623351]),
        ),
        Fixture(
            "hand: uniform over four actions",
            {"logits": torch.tensor([[0.0, 0.0, 0.0, 0.0], [7.0, 7.0, 7.0, 7.0]])},
            note="any uniform distribution over 4 actions has entropy log 4 = 1.386294",
            expected=torch.tensor([1.3862944, 1.3862944]),
        ),
        Fixture(
            "random batch", lambda: _entropy_inputs(21, B=5, A=3, scale=2.0), note="five states"
        ),
        Fixture(
            "nearly deterministic",
            {"logits": torch.tensor([[0.0, -200.0, -200.0], [50.0, 0.0, -50.0]])},
            note="probabilities underflow to exactly 0 in float32; the entropy is ~0, not nan",
        ),
    ],
    hidden=[Hidden(_draw_entropy, weight=HIDDEN_WEIGHT)],
    properties=[
        float64_property(lambda: _entropy_inputs(23, B=5, A=4, scale=2.0)),
        batch_of_one_property(lambda: _entropy_inputs(24, B=1, A=3)),
        Property(
            "agrees with torch.distributions.Categorical",
            lambda: _entropy_inputs(22, B=16, A=6, scale=3.0),
            expect=stored("torch_entropy"),
        ),
        Property(
            "lies between 0 and log A",
            lambda: _entropy_inputs(23, B=32, A=4, scale=10.0),
            predicate=_entropy_in_range,
        ),
        Property(
            "finite when a probability underflows to 0",
            lambda: {"logits": torch.tensor([[0.0, -150.0, -300.0], [80.0, 0.0, -80.0]])},
            note="exp(-150) is 0 in float32: the term 0 * log 0 must count as 0, not nan",
            expect=stored("torch_entropy"),
        ),
        Property(
            "written without torch.distributions",
            lambda: _entropy_inputs(24, B=3, A=3),
            probe=without_distributions,
            expect=stored("torch_entropy"),
        ),
        Property(
            "gradient with respect to the logits",
            lambda: _entropy_inputs(25, B=4, A=3, scale=1.5),
            note="the entropy bonus works through this gradient, d H / d z_j = -p_j (log p_j "
            "+ H): the entropy must stay in the graph of the logits",
            probe=grad_wrt_first,
            expect=stored("entropy_gradient"),
        ),
    ],
    mistakes=[
        Mistake(
            "zero-times-log-zero",
            "p * log(p) with p computed by softmax",
            "When a probability underflows to 0, log(0) = -inf and 0 * -inf = nan. Use the "
            "log-softmax: p * log p = exp(log p) * log p stays finite.",
            kind="edge",
        ),
        Mistake(
            "no-minus",
            "the minus sign is missing",
            "H = -sum p log p. Since log p <= 0, the entropy is non-negative.",
        ),
        Mistake(
            "sum-over-batch",
            "the sum runs over the batch instead of the actions",
            "logits are (B, A): sum over the last dimension to get one entropy per state.",
        ),
        Mistake(
            "mean-over-actions",
            "the mean over actions instead of the sum",
            "H = -sum_a p(a) log p(a): the probabilities already weight the terms; averaging "
            "divides the entropy by A.",
        ),
    ],
)


# ==== policy_gradient_loss


def _pg_inputs(seed: int, B: int):
    g = draw.generator(seed)
    return {
        "log_probs": -draw.uniform(g, B, low=0.05, high=3.0),
        "weights": draw.normal(g, B, scale=2.0),
    }


def _draw_pg(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(3):
        B = draw.size(g, 2, 12)  # a mean and a sum differ from B = 2 on
        log_probs = -draw.uniform(g, B, low=0.05, high=3.0)
        cases.append(
            (
                f"random batch {i + 1} (B={B}, log_probs require grad)",
                {
                    "log_probs": log_probs.requires_grad_(True),
                    "weights": draw.normal(g, B, scale=2.0),
                },
            )
        )
    return cases


POLICY_GRADIENT_LOSS = Check(
    MODULE,
    "policy_gradient_loss",
    points=2,
    summary="the REINFORCE surrogate loss",
    fixtures=[
        Fixture(
            "hand: three samples",
            {
                "log_probs": torch.tensor([-0.5, -1.0, -2.0]),
                "weights": torch.tensor([1.0, 2.0, -1.0]),
            },
            note="products -0.5, -2, 2 sum to -0.5; the mean is -1/6 and the loss is +1/6",
            expected=torch.tensor(1.0 / 6.0),
        ),
        Fixture("random batch", lambda: _pg_inputs(31, B=8), note="eight samples"),
    ],
    hidden=[Hidden(_draw_pg, weight=HIDDEN_WEIGHT)],
    properties=[
        float64_property(lambda: _pg_inputs(33, B=6)),
        batch_of_one_property(lambda: _pg_inputs(34, B=1)),
        Property(
            "gradient is -weights / B",
            lambda: _pg_inputs(32, B=6),
            note="d L / d log pi_i = -w_i / B: gradient descent raises log pi where w > 0; a "
            "loss without this gradient trains nothing",
            probe=grad_wrt_first,
            expect=stored("pg_gradient"),
            core=True,
        ),
    ],
    mistakes=[
        Mistake(
            "no-minus",
            "the minus sign is missing",
            "Optimisers minimise. Minimising +mean(log pi * w) makes good actions less likely; "
            "the loss is the negated objective.",
        ),
        Mistake(
            "sum",
            "a sum over the batch instead of a mean",
            "A sum makes the step size grow with the batch size; the estimator is a mean.",
        ),
        Mistake(
            "probabilities",
            "probabilities instead of log-probabilities",
            "The policy gradient theorem has grad log pi(a|s): weight the log-probabilities.",
        ),
        Mistake(
            "detached-log-probs",
            "the log-probabilities are detached, so the loss carries no gradient",
            "log_probs.detach() gives the right number but cuts the graph: backward() reaches no "
            "parameter of the policy and nothing is learnt. Only the weights (returns or "
            "advantages) are constants here; the log-probabilities must keep their gradient.",
        ),
    ],
)

CHECKS = bind_stored(
    [DISCOUNTED_RETURNS, CATEGORICAL_LOG_PROB, CATEGORICAL_ENTROPY, POLICY_GRADIENT_LOSS]
)
