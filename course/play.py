"""Watch a trained agent: the run's ``agent.pt``, evaluation episodes, and GIFs of them.

Every training run saves its final agent as plain data (the network's tensors, the
observation statistics, the config and the implementation it was trained with; no pickled
objects) and evaluates it over :data:`EVAL_EPISODES` episodes of one gymnasium env.
``ppo-course play RUN_DIR`` loads the file, plays episodes (the same ones as the
evaluation, for the same seed) and can render them into a GIF.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

AGENT_FILE = "agent.pt"
FORMAT = 1
#: Episodes of the evaluation at the end of every run.
EVAL_EPISODES = 10
#: The evaluation's seed is the training seed plus this, so it starts from fresh states.
EVAL_SEED_OFFSET = 10_000


def _plain_normalizer(normalizer: Any) -> dict[str, Any] | None:
    """The running observation statistics of either backend as tensors and numbers."""
    if normalizer is None:
        return None
    return {
        "mean": torch.as_tensor(np.asarray(_host(normalizer.mean)), dtype=torch.float64),
        "var": torch.as_tensor(np.asarray(_host(normalizer.var)), dtype=torch.float64),
        "clip": float(normalizer.clip),
        "eps": float(getattr(normalizer, "eps", 1e-8)),
    }


def _host(value: Any) -> Any:
    return value.detach().cpu().numpy() if torch.is_tensor(value) else value


def save_agent(
    path: Path, kind: str, net: torch.nn.Module, normalizer: Any, header: dict[str, Any], impl
) -> None:
    """Write ``agent.pt``: only tensors, dicts, strings and numbers (``weights_only`` loads it).

    Args:
        kind: ``actor_critic`` (m09's ``ActorCritic`` of ``impl``) or ``categorical_mlp``
            (the course's policy network of REINFORCE and TRPO: logits of a categorical).
        header: the run's header (env, algo, seed, impl, config).
    """
    record = {
        "format": FORMAT,
        "kind": kind,
        "env": header["env"],
        "algo": header["algo"],
        "seed": int(header["seed"]),
        "impl": str(impl.label),
        "impl_folder": str(impl.folder),
        "config": dict(header["config"]),
        "hidden": int(header["config"]["hidden"]),
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "obs_norm": _plain_normalizer(normalizer),
    }
    torch.save(record, path)


@dataclass
class Policy:
    """A loaded agent that maps one observation to one env action."""

    record: dict[str, Any]
    net: torch.nn.Module
    continuous: bool
    low: np.ndarray | None = None
    high: np.ndarray | None = None

    def observe(self, obs: np.ndarray) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(obs, dtype=np.float64))
        norm = self.record["obs_norm"]
        if norm is not None:
            x = ((x - norm["mean"]) / torch.sqrt(norm["var"] + norm["eps"])).clamp(
                -norm["clip"], norm["clip"]
            )
        return x.float().unsqueeze(0)  # (1, obs_dim)

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> Any:
        x = self.observe(obs)
        if self.record["kind"] == "categorical_mlp":
            action = torch.distributions.Categorical(logits=self.net(x)).sample()
        else:
            action = self.net.get_action_and_value(x)[0]
        if self.continuous:
            return np.clip(action[0].numpy().astype(np.float32), self.low, self.high)
        return int(action.reshape(-1)[0])


def read_agent(path: Path) -> dict[str, Any]:
    """The plain record of an ``agent.pt`` (loaded with ``weights_only=True``)."""
    record = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError(f"{path} is not an agent file of this course")
    return record


def load_policy(record: dict[str, Any], impl=None) -> Policy:
    """Rebuild the network of ``record``; ``impl`` (an :class:`course.impl.Implementation`)
    supplies m09's ``ActorCritic``, by default the one the agent was trained with."""
    import gymnasium as gym

    from course.train.common import mlp

    env = gym.make(record["env"])
    obs_space, act_space = env.observation_space, env.action_space
    env.close()
    continuous = isinstance(act_space, gym.spaces.Box)
    if record["kind"] == "categorical_mlp":
        net = mlp(int(np.prod(obs_space.shape)), int(act_space.n), record["hidden"])
    else:
        if impl is None:
            from course.impl import Implementation

            spec = record["impl"]
            impl = Implementation(
                spec if spec in ("exercises", "solutions") else record["impl_folder"]
            )
        net = impl.module("m09").ActorCritic(obs_space, act_space, hidden=record["hidden"])
    net.load_state_dict(record["state_dict"])
    net.eval()
    if continuous:
        return Policy(record, net, True, act_space.low, act_space.high)
    return Policy(record, net, False)


def play(
    policy: Policy, episodes: int, seed: int, render: bool = False, every: int = 1
) -> tuple[list[float], list[np.ndarray]]:
    """Play ``episodes`` episodes with the policy's own sampling; deterministic given ``seed``
    (the env is reset with it once, torch's generator is seeded with it; the global state
    of torch's generator is restored afterwards).

    Returns:
        The episodes' returns, and the rendered frames (H, W, 3) uint8 (every ``every``-th
        step, each episode's first and last frame included) when ``render``.
    """
    import gymnasium as gym

    if render:  # pygame draws off-screen: no display, no greeting
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    env_id = policy.record["env"]
    try:
        env = gym.make(env_id, render_mode="rgb_array" if render else None)
    except Exception as exc:
        raise _render_error(env_id, exc) if render else exc from None
    returns: list[float] = []
    frames: list[np.ndarray] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        obs, _ = env.reset(seed=seed)
        for episode in range(episodes):
            total, step, done = 0.0, 0, False
            if render and episode == 0:
                try:
                    frames.append(env.render())
                except Exception as exc:
                    env.close()
                    raise _render_error(env_id, exc) from None
            elif render:
                frames.append(env.render())
            while not done:
                obs, reward, terminated, truncated, _ = env.step(policy.act(obs))
                total += float(reward)
                step += 1
                done = terminated or truncated
                if render and (step % every == 0 or done):
                    frames.append(env.render())
            returns.append(total)
            obs, _ = env.reset()
    env.close()
    return returns, frames


def _render_error(env_id: str, exc: BaseException) -> Exception:
    """One line for an env that cannot draw: for MuJoCo, what an off-screen OpenGL needs."""
    from course.envs import is_mujoco
    from course.errors import UsageError

    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if is_mujoco(env_id):
        backend = os.environ.get("MUJOCO_GL", "glfw, the default, which needs a display")
        return UsageError(
            f"cannot render {env_id} with MuJoCo's OpenGL backend {backend} ({first}): "
            "without a display, install an off-screen OpenGL (Debian: apt-get install "
            "libosmesa6) and set MUJOCO_GL=osmesa, or MUJOCO_GL=egl on a GPU"
        )
    return UsageError(f"cannot render {env_id}: {first}")


def _offscreen_mujoco(env_id: str) -> None:
    """Without a display, MuJoCo renders with OSMesa unless MUJOCO_GL says otherwise (read
    when MuJoCo's rendering is first imported, so set before the env is made)."""
    from course.envs import is_mujoco

    if is_mujoco(env_id) and "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
        os.environ["MUJOCO_GL"] = "osmesa"


def evaluate(path: Path, impl, seed: int, episodes: int = EVAL_EPISODES) -> dict[str, Any]:
    """Load the saved agent and play ``episodes`` episodes: the summary's evaluation."""
    eval_seed = seed + EVAL_SEED_OFFSET
    returns, _ = play(load_policy(read_agent(path), impl), episodes, eval_seed)
    return {
        "eval_episodes": episodes,
        "eval_seed": eval_seed,
        "eval_mean_return": round(float(np.mean(returns)), 2) if returns else None,
        "eval_std_return": round(float(np.std(returns)), 2) if returns else None,
        "eval_returns": [round(r, 4) for r in returns],
    }


def write_gif(frames: list[np.ndarray], path: Path, width: int, fps: float) -> None:
    """Save ``frames`` as a looping GIF, scaled to ``width`` pixels."""
    from PIL import Image

    images = []
    for frame in frames:
        image = Image.fromarray(np.asarray(frame, dtype=np.uint8))
        height = max(1, round(image.height * width / image.width))
        images.append(image.resize((width, height), Image.Resampling.LANCZOS))
    images[0].save(
        path,
        save_all=True,
        append_images=images[1:],
        duration=max(20, round(1000 / fps)),
        loop=0,
        optimize=True,
    )


def add_play_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN_DIR", help="a folder written by ppo-course train")
    parser.add_argument("--episodes", type=int, default=1, metavar="N", help="default 1")
    parser.add_argument("--gif", metavar="FILE", help="render the episodes into this GIF")
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="S",
        help="seed of the episodes (default: the run's evaluation seed, so the episodes are "
        "the evaluation's first ones)",
    )
    parser.add_argument("--width", type=int, default=300, help="GIF width in pixels (300)")
    parser.add_argument("--fps", type=float, default=30.0, help="GIF frames per second (30)")
    parser.add_argument(
        "--every", type=int, default=1, metavar="K", help="keep every K-th frame (default 1)"
    )
    parser.add_argument(
        "--impl",
        default=None,
        help="load m09's ActorCritic from this implementation instead of the run's own",
    )


def play_from_cli(args: argparse.Namespace) -> int:
    """``ppo-course play``: print each episode's return, write the GIF if asked."""
    from course import impl as impl_loader
    from course.errors import UsageError

    for name, value in (("--episodes", args.episodes), ("--width", args.width)):
        if value < 1:
            raise UsageError(f"{name} must be at least 1, got {value}")
    if args.every < 1 or not (math.isfinite(args.fps) and args.fps > 0):
        raise UsageError("--every must be at least 1 and --fps positive")
    path = Path(args.run) / AGENT_FILE
    if not path.is_file():
        raise UsageError(f"{args.run} has no {AGENT_FILE}: pass a folder written by train")
    try:
        record = read_agent(path)
    except Exception as exc:  # a damaged or foreign file
        raise UsageError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    if args.gif:
        _offscreen_mujoco(str(record.get("env", "")))
    try:
        impl = impl_loader.Implementation(args.impl) if args.impl else None
        policy = load_policy(record, impl)
    except impl_loader.ImplError as exc:
        raise UsageError(str(exc)) from None
    seed = args.seed if args.seed is not None else record["seed"] + EVAL_SEED_OFFSET
    returns, frames = play(policy, args.episodes, seed, render=bool(args.gif), every=args.every)
    for i, value in enumerate(returns, start=1):
        print(f"episode {i}: return {value:.2f}")
    if args.gif:
        write_gif(frames, Path(args.gif), args.width, args.fps)
        print(f"{len(frames)} frames: {args.gif}")
    return 0
