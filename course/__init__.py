"""PPO from first principles: shared course code (envs, rollouts, trainers, tooling, CLI).

Nothing in this package holds an answer to an exercise: every graded function lives in
``solutions/`` (the reference) and ``exercises/`` (the stubs students fill in).
"""

__version__ = "0.1.0"
