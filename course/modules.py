"""The curriculum's modules: ids, file names, titles and docs pages, in teaching order."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Module:
    """One module of the course.

    Attributes:
        id: short id used on the command line, ``"m01"``.
        name: file stem in ``solutions/`` and ``exercises/``, ``"m01_policy_gradient"``.
        title: human title, as on the docs page.
    """

    id: str
    name: str
    title: str

    @property
    def filename(self) -> str:
        return f"{self.name}.py"

    @property
    def docs_page(self) -> str:
        """The module's page, relative to ``docs/``."""
        return f"modules/{self.name}.md"


MODULES: tuple[Module, ...] = (
    Module("m01", "m01_policy_gradient", "Vanilla policy gradient (REINFORCE)"),
    Module("m02", "m02_value_baseline", "The critic: baselines and advantages"),
    Module("m03", "m03_trust_region", "The ratio objective and the trust region (TRPO)"),
    Module("m04", "m04_ppo_clip", "PPO, the clipped surrogate"),
    Module("m05", "m05_ppo_loss", "The full PPO loss: value loss and entropy bonus"),
    Module("m06", "m06_gae", "Generalized Advantage Estimation"),
    Module("m07", "m07_kl_control", "Controlling the KL: penalty and early stopping"),
    Module("m08", "m08_gaussian_policy", "Continuous actions: Gaussian policy heads"),
    Module("m09", "m09_ppo_agent", "The PPO agent"),
    Module("m10", "m10_gpu_training", "Training on the GPU"),
    Module(
        "m11",
        "m11_continuous_control",
        "Continuous control for real: normalisation and reward scaling",
    ),
)

BY_ID = {m.id: m for m in MODULES}
BY_NAME = {m.name: m for m in MODULES}


def lookup(key: str) -> Module:
    """Find a module by id (``m01``, ``m1``), by number (``1``) or by file stem.

    Raises:
        KeyError: with a one-line message listing the known ids.
    """
    key = key.strip().lower().removesuffix(".py")
    if key.startswith("m") and key[1:].isdigit():
        key = key[1:]
    if key.isdigit():
        key = f"m{int(key):02d}"
    if key in BY_ID:
        return BY_ID[key]
    if key in BY_NAME:
        return BY_NAME[key]
    known = ", ".join(m.id for m in MODULES)
    raise KeyError(f"unknown module {key!r} (known: {known})")
