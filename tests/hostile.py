"""Hostile submissions of module m01: each attacks the grader in one way.

Each value is the source of a student's ``m01_policy_gradient.py``; the rest of the
student's files are the reference's (so that everything else must stay full marks).
``{OTHER}``, ``{SHEET}``, ``{FEEDBACK}`` and ``{MARKER}`` are filled in by the test with
another student's file, the grade sheet, the feedback folder and a unique marker.
"""

from __future__ import annotations

import json
from pathlib import Path

CORRECT_REST = """
def categorical_log_prob(logits, actions):
    log_probs = torch.log_softmax(logits, dim=-1)
    return log_probs.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)


def categorical_entropy(logits):
    log_probs = torch.log_softmax(logits, dim=-1)
    return -(log_probs.exp() * log_probs).sum(dim=-1)


def policy_gradient_loss(log_probs, weights):
    return -(log_probs * weights).mean()
"""

RETURNS = """
def discounted_returns(rewards, dones, gamma):
    not_done = 1.0 - dones.to(rewards.dtype)
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * not_done[t] * running
        returns[t] = running
    return returns
"""

ATTACKS: dict[str, str] = {
    "hang_at_import": "import torch\nwhile True:\n    pass\n" + RETURNS + CORRECT_REST,
    "crash_at_import": "import os\nos._exit(7)\n",
    "syntax_error": "def discounted_returns(rewards, dones, gamma:\n    return rewards\n",
    "recursion": "import torch\n"
    + RETURNS.replace("def discounted_returns", "def _ok")
    + "\ndef discounted_returns(rewards, dones, gamma):\n"
    "    return discounted_returns(rewards, dones, gamma)\n" + CORRECT_REST,
    "memory_bomb": "import torch\n"
    + RETURNS.replace("def discounted_returns", "def _ok")
    + "\ndef discounted_returns(rewards, dones, gamma):\n"
    "    hog = [bytearray(1 << 30) for _ in range(64)]\n    return rewards\n" + CORRECT_REST,
    "exit_and_kill": "import os, signal, torch\n"
    + RETURNS
    + CORRECT_REST.replace(
        "def categorical_entropy(logits):\n",
        "def categorical_entropy(logits):\n    os.kill(os.getpid(), signal.SIGKILL)\n",
    ).replace(
        "def policy_gradient_loss(log_probs, weights):\n",
        "def policy_gradient_loss(log_probs, weights):\n    os._exit(0)\n",
    ),
    "prints_10mb": "import torch\n"
    + RETURNS.replace(
        "    return returns", "    print('x' * (10 * 1024 * 1024))\n    return returns"
    )
    + CORRECT_REST,
    "patch_and_mutate": "import torch\nimport autograder.core\n"
    "torch.equal = lambda a, b: True\n"
    "autograder.core.mutated = lambda before, after: []\n"
    + RETURNS.replace("    return returns", "    rewards.zero_()\n    return returns")
    + CORRECT_REST,
    "unpickle_exploit": "import os, torch\n"
    "class Evil:\n"
    "    def __reduce__(self):\n"
    "        return (os.system, ('touch {MARKER}',))\n"
    "def discounted_returns(rewards, dones, gamma):\n    return Evil()\n" + CORRECT_REST,
    "import_reference": "try:\n    from solutions.m01_policy_gradient import *\n"
    "except Exception:\n"
    "    from course import paths\n"
    "    exec((paths.SOLUTIONS_DIR / 'm01_policy_gradient.py').read_text())\n",
    "tamper_files": "import os, torch\n"
    "for target in ({OTHER!r}, {SHEET!r}, {FEEDBACK!r} + '/alice/report.txt', "
    "{FEEDBACK!r} + '/results.json'):\n"
    "    try:\n"
    "        os.makedirs(os.path.dirname(target), exist_ok=True)\n"
    "        with open(target, 'w') as f:\n"
    "            f.write('tampered')\n"
    "    except Exception:\n"
    "        pass\n" + RETURNS + CORRECT_REST,
    "detached_process": "import os, subprocess, torch\n"
    "try:\n"
    "    subprocess.Popen(['sh', '-c', 'sleep 600 # {MARKER}'], start_new_session=True)\n"
    "except Exception:\n"
    "    pass\n"
    "try:\n"
    "    if os.fork() == 0:\n"
    "        import time\n"
    "        time.sleep(600)\n"
    "except Exception:\n"
    "    pass\n" + RETURNS + CORRECT_REST,
    "wrong_shape_dtype_nan": "import torch\n"
    "def discounted_returns(rewards, dones, gamma):\n    return rewards.flatten()\n"
    "def categorical_log_prob(logits, actions):\n"
    "    return torch.zeros(logits.shape[0], dtype=torch.float64)\n"
    "def categorical_entropy(logits):\n    return torch.full(logits.shape[:1], float('nan'))\n"
    "def policy_gradient_loss(log_probs, weights):\n    return -(log_probs * weights).mean()\n",
}


def fixture_lookup(fixture_file: Path) -> str:
    """A submission that returns the public fixtures' outputs by looking up its inputs, and
    plausible zeros (right shape and dtype) otherwise."""
    data = json.loads(fixture_file.read_text())
    return (
        "import json, torch\n"
        "from autograder.values import decode\n"
        f"DATA = json.loads({json.dumps(data)!r})\n"
        "CASES = [(c['function'], list(decode(c['inputs']).values()), decode(c['expected']))\n"
        "         for c in DATA['cases']]\n"
        "def _same(a, b):\n"
        "    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):\n"
        "        return a.shape == b.shape and torch.equal(a.double(), b.double())\n"
        "    return a == b\n"
        "def _lookup(name, args, fallback):\n"
        "    for fn, inputs, expected in CASES:\n"
        "        if fn == name and len(inputs) == len(args) and all(\n"
        "                _same(x, y) for x, y in zip(args, inputs)):\n"
        "            return expected\n"
        "    return fallback\n"
        "def discounted_returns(rewards, dones, gamma):\n"
        "    return _lookup('discounted_returns', [rewards, dones, gamma], "
        "torch.zeros_like(rewards))\n"
        "def categorical_log_prob(logits, actions):\n"
        "    return _lookup('categorical_log_prob', [logits, actions], "
        "torch.zeros(logits.shape[0]))\n"
        "def categorical_entropy(logits):\n"
        "    return _lookup('categorical_entropy', [logits], torch.zeros(logits.shape[0]))\n"
        "def policy_gradient_loss(log_probs, weights):\n"
        "    return _lookup('policy_gradient_loss', [log_probs, weights], torch.zeros(()))\n"
    )
