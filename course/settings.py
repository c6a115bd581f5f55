"""The instructor's course settings: the secret hidden seed, kept outside the student tree.

The settings live in one small JSON file, by default ``.ppo-course/instructor.json`` at
the root of the instructor's copy of the course (ignored by git), or wherever
``$PPO_COURSE_SETTINGS`` points. ``ppo-course release`` creates it, with a fresh random
hidden seed, unless it exists; ``ppo-course grade`` reads it. The file is never copied
into a student bundle and is never visible inside the grading sandbox.

Format::

    {"format": 1, "hidden_seed": 123456789012, "created": "2026-12-01T10:00:00+00:00"}
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from course import paths

SETTINGS_ENV = "PPO_COURSE_SETTINGS"
FORMAT = 1


class SettingsError(Exception):
    """The settings file exists but cannot be read; the message is one line."""


@dataclass(frozen=True)
class CourseSettings:
    hidden_seed: int
    created: str
    path: Path


def settings_path() -> Path:
    """Where the instructor's settings are (whether or not the file exists)."""
    override = os.environ.get(SETTINGS_ENV)
    if override:
        return Path(override).expanduser()
    return paths.ROOT / ".ppo-course" / "instructor.json"


def load(path: Path | None = None) -> CourseSettings | None:
    """The settings, or None when there is no settings file.

    Raises:
        SettingsError: the file is not valid settings.
    """
    path = path or settings_path()
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        seed = data["hidden_seed"]
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError("hidden_seed must be a non-negative integer")
        return CourseSettings(seed, str(data.get("created", "")), path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SettingsError(f"{path} is not valid course settings: {exc}") from None


def fresh_seed() -> int:
    """A new random hidden seed (48 bits, from the operating system's generator)."""
    return secrets.randbits(48)


def create(path: Path | None = None, seed: int | None = None) -> tuple[CourseSettings, bool]:
    """Load the settings, or create them with a fresh seed. Returns ``(settings, created)``."""
    path = path or settings_path()
    existing = load(path)
    if existing is not None:
        return existing, False
    seed = fresh_seed() if seed is None else seed
    created = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"format": FORMAT, "hidden_seed": seed, "created": created}, f)
        f.write("\n")
    os.replace(tmp, path)
    return CourseSettings(seed, created, path), True


HIDDEN_SEED_ENV = "PPO_COURSE_HIDDEN_SEED"


def hidden_seed() -> int | None:
    """The course's hidden seed: ``$PPO_COURSE_HIDDEN_SEED`` if set, else the one in the
    instructor's settings, else None. There is no public default: a seed anyone can compute
    would make the hidden cases public.

    Raises:
        SettingsError: the variable is not an integer, or the settings file is invalid.
    """
    raw = os.environ.get(HIDDEN_SEED_ENV)
    if raw:
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"${HIDDEN_SEED_ENV} must be an integer, not {raw!r}") from None
    found = load()
    return None if found is None else found.hidden_seed
