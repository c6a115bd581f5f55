"""Module m10: training on the GPU, environments as tensors.

m09's trainer steps gymnasium environments on the CPU, in numpy, and sends every
observation to the device and every action back: two copies and a synchronisation per
step, however fast the network is. The fastest PPO trainers keep everything on the
accelerator: the environments' states are one tensor of N rows, one step of all N
environments is a handful of elementwise tensor operations, episodes that end are reset
with a mask, and the episode returns are summed on the device and read once per update.

This module writes those pieces for two classic tasks, with gymnasium's own dynamics:

* CartPole-v1: ``state = (x, x_dot, theta, theta_dot)``, explicit Euler, a push of 10 N;
* Pendulum-v1: ``state = (theta, theta_dot)``, a torque in [-2, 2];

and the two pieces every batched environment needs: the same-step autoreset, and the
episode statistics. No function loops over environments in Python, calls ``.item()``
or branches on a tensor's value: each one is a fixed sequence of tensor operations, so
it runs the same on N = 1 or N = 2^20, on the CPU or on a GPU.

Shapes: N parallel environments.
"""

from __future__ import annotations

import math

import torch

# CartPole-v1's constants, as in gymnasium's CartPoleEnv.
GRAVITY = 9.8
MASS_CART = 1.0
MASS_POLE = 0.1
HALF_LENGTH = 0.5  # gymnasium's ``length``: half the pole's length
FORCE_MAG = 10.0
TAU = 0.02  # seconds per step
X_THRESHOLD = 2.4
THETA_THRESHOLD = 12 * 2 * math.pi / 360  # 12 degrees, in radians

# Pendulum-v1's constants, as in gymnasium's PendulumEnv.
PENDULUM_G = 10.0
PENDULUM_MASS = 1.0
PENDULUM_LENGTH = 1.0
DT = 0.05
MAX_TORQUE = 2.0
MAX_SPEED = 8.0


# --8<-- [start:cartpole_step]
def cartpole_step(state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """One step of CartPole-v1 for N environments at once (gymnasium's dynamics).

    F = +10 if a = 1 else -10,   m = m_cart + m_pole,   l = HALF_LENGTH,
    temp = (F + m_pole l theta_dot^2 sin theta) / m
    theta_acc = (g sin theta - cos theta temp) / (l (4/3 - m_pole cos^2 theta / m))
    x_acc = temp - m_pole l theta_acc cos theta / m
    explicit Euler: x += tau x_dot, x_dot += tau x_acc, theta += tau theta_dot,
    theta_dot += tau theta_acc (each update uses the values from before the step).

    Source: Barto, Sutton and Anderson (1983), "Neuronlike adaptive elements that can
    solve difficult learning control problems"; Florian (2007), "Correct equations for
    the dynamics of the cart-pole system"; gymnasium's ``CartPoleEnv.step``.

    Args:
        state: (N, 4) float, rows ``(x, x_dot, theta, theta_dot)``, theta in radians.
        action: (N,) int64, 0 pushes the cart left, 1 pushes it right.

    Returns:
        (N, 4) float, the next states, in the dtype of ``state``. Any (N, 4) layout is
        right; the transpose of the four new columns stacked as (4, N) keeps each column
        contiguous in memory, so that the next step reads it without a copy.

    Trap: gymnasium's default integrator is explicit Euler: the position moves with the
    velocity from *before* the step. Updating the velocity first and moving with the new
    one (semi-implicit Euler, gymnasium's other option) drifts away from CartPole-v1
    within a few steps. ``HALF_LENGTH`` is half the pole, as gymnasium's ``length``.
    """
    ### BEGIN SOLUTION
    x, x_dot, theta, theta_dot = state.t().contiguous()  # four contiguous (N,) columns
    total_mass = MASS_CART + MASS_POLE
    polemass_length = MASS_POLE * HALF_LENGTH
    # +10 for action 1, -10 for 0 (exact in any float dtype)
    force = torch.where(action == 1, FORCE_MAG, -FORCE_MAG).to(state.dtype)
    cos, sin = torch.cos(theta), torch.sin(theta)
    # Fused forms keep the operations few (each is a pass over N values and, on the CPU,
    # a few microseconds of overhead): torch.addcmul(a, b, c, value=k) is a + k b c,
    # torch.rsub(a, b, alpha=k) is b - k a, torch.add(a, b, alpha=k) is a + k b. The
    # constant factors m and g go into those k: temp_m = m temp, and theta_acc's
    # numerator and denominator are both divided by g.
    temp_m = torch.addcmul(force, theta_dot * theta_dot, sin, value=polemass_length)
    numerator = torch.addcmul(sin, cos, temp_m, value=-1.0 / (GRAVITY * total_mass))
    denominator = torch.rsub(  # l (4/3 - m_pole cos^2 / m) / g
        cos * cos,
        HALF_LENGTH * 4.0 / (3.0 * GRAVITY),
        alpha=HALF_LENGTH * MASS_POLE / (total_mass * GRAVITY),
    )
    theta_acc = numerator / denominator
    x_acc_m = torch.addcmul(temp_m, theta_acc, cos, value=-polemass_length)  # m x_acc
    # explicit Euler: each quantity moves with the derivative from before the step
    new = [
        torch.add(x, x_dot, alpha=TAU),
        torch.add(x_dot, x_acc_m, alpha=TAU / total_mass),
        torch.add(theta, theta_dot, alpha=TAU),
        torch.add(theta_dot, theta_acc, alpha=TAU),
    ]
    return torch.stack(new).t()  # (4, N) -> (N, 4), a view: the columns stay contiguous
    ### END SOLUTION


# --8<-- [end:cartpole_step]


# --8<-- [start:cartpole_terminated]
def cartpole_terminated(state: torch.Tensor) -> torch.Tensor:
    """Whether each CartPole state ends its episode: the cart left the track or the pole
    fell too far.

    terminated = |x| > 2.4  or  |theta| > 12 * 2 pi / 360   (strict inequalities)

    Source: gymnasium's ``CartPoleEnv.step`` (``x_threshold``,
    ``theta_threshold_radians``).

    Args:
        state: (N, 4) float, rows ``(x, x_dot, theta, theta_dot)``, theta in radians.

    Returns:
        (N,) bool.

    Trap: the angle is in radians: 12 degrees is about 0.2094, not 12. Both tests are
    strict, and both sides count (the cart can leave to the left, the pole fall either
    way).
    """
    ### BEGIN SOLUTION
    x, theta = state[..., 0], state[..., 2]
    return (x.abs() > X_THRESHOLD) | (theta.abs() > THETA_THRESHOLD)
    ### END SOLUTION


# --8<-- [end:cartpole_terminated]


# --8<-- [start:pendulum_step]
def pendulum_step(
    state: torch.Tensor,
    action: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of Pendulum-v1 for N environments at once, and its reward.

    u = clip(a, -2, 2)
    reward = -(normalize(theta)^2 + 0.1 theta_dot^2 + 0.001 u^2), normalize: [-pi, pi)
    theta_dot' = clip(theta_dot + (3 g / (2 l) sin theta + 3 / (m l^2) u) dt, -8, 8)
    theta' = theta + theta_dot' dt

    Source: gymnasium's ``PendulumEnv.step`` (g = 10, m = l = 1, dt = 0.05).

    Args:
        state: (N, 2) float, rows ``(theta, theta_dot)``; theta = 0 is upright, and is
            not kept in [-pi, pi) (gymnasium does not wrap it either).
        action: (N, 1) float, the torque asked for.

    Returns:
        ``(next_state, reward)``: (N, 2) and (N,), in the dtype of ``state``.

    Trap: the reward is the cost of the state *before* the step (and of the clipped
    torque), not of the state reached. The angle moves with the *new*, clipped speed
    (semi-implicit Euler, the reverse of CartPole's choice).
    """
    ### BEGIN SOLUTION
    theta, theta_dot = state.t().contiguous()
    u = action[..., 0].to(state.dtype).clamp(-MAX_TORQUE, MAX_TORQUE)
    normalized = torch.remainder(theta + math.pi, 2 * math.pi) - math.pi
    # torch.addcmul(a, b, c, value=k) is a + k b c; the in-place calls act on new ones
    cost = torch.addcmul(normalized * normalized, theta_dot, theta_dot, value=0.1)
    reward = cost.addcmul_(u, u, value=0.001).neg_()
    # theta_dot + (3 g / (2 l) sin theta + 3 / (m l^2) u) dt, then clipped
    acc_sin = 3 * PENDULUM_G / (2 * PENDULUM_LENGTH) * DT
    acc_u = 3.0 / (PENDULUM_MASS * PENDULUM_LENGTH**2) * DT
    new_theta_dot = torch.add(theta_dot, torch.sin(theta), alpha=acc_sin)
    new_theta_dot = new_theta_dot.add_(u, alpha=acc_u).clamp_(-MAX_SPEED, MAX_SPEED)
    new_theta = torch.add(theta, new_theta_dot, alpha=DT)
    return torch.stack([new_theta, new_theta_dot]).t(), reward
    ### END SOLUTION


# --8<-- [end:pendulum_step]


# --8<-- [start:autoreset]
def autoreset(
    state: torch.Tensor,
    done: torch.Tensor,
    fresh: torch.Tensor,
) -> torch.Tensor:
    """The same-step autoreset: the rows of the environments whose episode ended are
    replaced by fresh initial states, the others are kept.

    state'_i = fresh_i if done_i else state_i

    Source: gymnasium's ``AutoresetMode.SAME_STEP``; the masked reset of gymnax and
    Isaac Gym style environments.

    Args:
        state: (N, ...) float, the states after the step.
        done: (N,) bool, the episode of env i ended at this step.
        fresh: (N, ...) float, initial states drawn for every env (only the done rows
            are used).

    Returns:
        (N, ...) float, a new tensor.

    Trap: ``done`` has one entry per row: give it the state's trailing dimensions
    (``done.view(N, 1, ...)``) before ``torch.where``, or it broadcasts along the last
    axis instead (silently, when N equals that axis' size). Boolean indexing
    (``state[done] = ...``) needs the number of done rows, a sync with the device, and
    modifies the input.
    """
    ### BEGIN SOLUTION
    mask = done.reshape(done.shape[0], *([1] * (state.dim() - 1)))
    return torch.where(mask, fresh, state)
    ### END SOLUTION


# --8<-- [end:autoreset]


# --8<-- [start:episode_stats]
def episode_stats(
    running_return: torch.Tensor, reward: torch.Tensor, done: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Track episode returns on the device: add the step's reward, then sum and count
    the returns of the episodes that ended, and restart their running returns from 0.

    G_i <- G_i + r_i;   finished_sum = sum_{i done} G_i;   finished_count = #done;
    G_i <- 0 where done.

    Args:
        running_return: (N,) float, the return of each env's episode so far.
        reward: (N,) float, the reward of this step.
        done: (N,) bool, the episode of env i ended at this step.

    Returns:
        ``(running_return, finished_sum, finished_count)``: (N,) float, a 0-dim float
        and a 0-dim int64 tensor. All three stay on the device; the trainer adds up
        ``finished_sum`` and ``finished_count`` over a rollout and reads them once.

    Trap: add the reward before the episode is closed (the last step's reward belongs to
    the episode that ended), and reset only the done rows. ``float(finished_sum)`` or
    ``if done.any():`` here would wait for the device at every step.
    """
    ### BEGIN SOLUTION
    total = running_return + reward
    zero = torch.zeros_like(total)
    finished_sum = torch.where(done, total, zero).sum()
    finished_count = done.sum()
    return torch.where(done, zero, total), finished_sum, finished_count
    ### END SOLUTION


# --8<-- [end:episode_stats]
