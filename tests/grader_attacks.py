"""Submissions of module m01 that attack the grader itself, one kind each.

Each value is the source of a student's ``m01_policy_gradient.py``; its functions are
right unless the attack needs one to fail. ``tests/test_grader_attacks.py`` grades each
one alone, under the sandbox, and says what must hold.
"""

from __future__ import annotations

from tests.hostile import CORRECT_REST, RETURNS

# Computes the right returns, then zeroes them in place, and patches the worker's encoder
# so that what it reports about the inputs after the call is their state before it.
FORGED_REPLY = (
    "import torch\n"
    "import autograder.core as _core\n"
    "import autograder.wire as _wire\n"
    "_encode = _wire.to_plain\n"
    "_call = _core.call\n"
    "_last = [None, None]  # the inputs of the latest call, and their state before it\n"
    "def _forged(value, depth=0):\n"
    "    if depth == 0 and value is _last[0]:\n"
    "        return _last[1]\n"
    "    return _encode(value, depth)\n"
    "def _probe(ns, function, inputs):\n"
    "    _last[:] = [inputs, _encode(inputs)]\n"
    "    return _call(ns, function, inputs)\n"
    "_wire.to_plain = _forged\n"
    "_core.call = _probe\n"
    + RETURNS.replace("    return returns", "    rewards.zero_()\n    return returns")
    + CORRECT_REST
)

# Remembers the first reward of every call, and every function raises with all of them
# (the messages of public cases are shown to the student).
EXFILTRATE = (
    "import torch\n"
    "SEEN = []\n"
    "def _tell(first):\n"
    "    SEEN.append(first)\n"
    "    raise ValueError('seen ' + ' '.join(repr(x) for x in SEEN))\n"
    "def discounted_returns(rewards, dones, gamma):\n"
    "    _tell(rewards.flatten()[0].item())\n"
    "def categorical_log_prob(logits, actions):\n"
    "    _tell(logits.flatten()[0].item())\n"
    "def categorical_entropy(logits):\n"
    "    _tell(logits.flatten()[0].item())\n"
    "def policy_gradient_loss(log_probs, weights):\n"
    "    _tell(log_probs.flatten()[0].item())\n"
)

# Fills every place of the sandbox it can write (every mount point, and the usual
# writable folders) with files, then tells how many MB each one took.
FILL_WRITABLE = (
    "import json, os, torch\n"
    "WROTE = None\n"
    "def _fill():\n"
    "    places = {'/', '/dev', '/dev/shm', '/tmp', '/proc/1', os.getcwd(),\n"
    "              os.path.expanduser('~'), '/home', '/run', '/var/tmp'}\n"
    "    with open('/proc/self/mountinfo') as f:\n"
    "        places |= {line.split()[4] for line in f}\n"
    "    chunk = b'x' * (1 << 20)\n"
    "    wrote = {}\n"
    "    for place in sorted(places):\n"
    "        mb = 0\n"
    "        for n in range(64):\n"
    "            try:\n"
    "                with open(os.path.join(place, f'.fill-{n}'), 'wb') as f:\n"
    "                    for _ in range(4):\n"
    "                        f.write(chunk)\n"
    "                        f.flush()\n"
    "                        mb += 1\n"
    "            except Exception:\n"
    "                break\n"
    "        if mb:\n"
    "            wrote[place] = mb\n"
    "    return wrote\n"
    + RETURNS.replace(
        "    return returns",
        "    global WROTE\n    if WROTE is None:\n        WROTE = _fill()\n    return returns",
    )
    + CORRECT_REST.replace(
        "def policy_gradient_loss(log_probs, weights):\n",
        "def policy_gradient_loss(log_probs, weights):\n"
        "    raise ValueError('wrote ' + json.dumps(WROTE if WROTE is not None else _fill()))\n",
    )
)

# Tries to take control of the sandbox's first process (bubblewrap, which has neither the
# worker's filter nor its limits) and to read another process's memory, then tells what
# each attempt gave.
PTRACE = (
    "import ctypes, json, os, torch\n"
    "def _attempts():\n"
    "    libc = ctypes.CDLL(None, use_errno=True)\n"
    "    out = {}\n"
    "    for pid in (1, os.getppid()):\n"
    "        ctypes.set_errno(0)\n"
    "        code = libc.ptrace(16, pid, None, None)  # PTRACE_ATTACH\n"
    "        out[f'ptrace attach {pid}'] = 'ok' if code == 0 else os.strerror(ctypes.get_errno())\n"
    "        ctypes.set_errno(0)\n"
    "        code = libc.ptrace(0x4206, pid, None, None)  # PTRACE_SEIZE\n"
    "        out[f'ptrace seize {pid}'] = 'ok' if code == 0 else os.strerror(ctypes.get_errno())\n"
    "        try:\n"
    "            with open(f'/proc/{pid}/mem', 'r+b'):\n"
    "                out[f'open /proc/{pid}/mem'] = 'ok'\n"
    "        except OSError as exc:\n"
    "            out[f'open /proc/{pid}/mem'] = exc.strerror\n"
    "        buf = ctypes.create_string_buffer(8)\n"
    "        class IoVec(ctypes.Structure):\n"
    "            _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]\n"
    "        local = IoVec(ctypes.cast(buf, ctypes.c_void_p), 8)\n"
    "        remote = IoVec(0x400000, 8)\n"
    "        ctypes.set_errno(0)\n"
    "        libc.process_vm_readv.restype = ctypes.c_ssize_t\n"
    "        pair = (ctypes.byref(local), 1, ctypes.byref(remote), 1)\n"
    "        code = libc.process_vm_readv(pid, *pair, 0)\n"
    "        errno = ctypes.get_errno()\n"
    "        out[f'process_vm_readv {pid}'] = 'ok' if code >= 0 else os.strerror(errno)\n"
    "    ctypes.set_errno(0)\n"
    "    code = libc.ptrace(0, 0, None, None)  # PTRACE_TRACEME\n"
    "    out['ptrace traceme'] = 'ok' if code == 0 else os.strerror(ctypes.get_errno())\n"
    "    return out\n"
    + RETURNS
    + CORRECT_REST.replace(
        "def policy_gradient_loss(log_probs, weights):\n",
        "def policy_gradient_loss(log_probs, weights):\n"
        "    raise ValueError('attempts ' + json.dumps(_attempts()))\n",
    )
)

# Sends back much more than any case needs: a tensor of 100 MB, a string of 6 MB in a
# dict, a list of half a million numbers.
REPLY_FLOOD = (
    "import torch\n"
    "def discounted_returns(rewards, dones, gamma):\n"
    "    return torch.zeros(25 * 1024 * 1024)\n"
    "def categorical_log_prob(logits, actions):\n"
    "    return {'log_probs': 'x' * (6 * 1024 * 1024)}\n"
    "def categorical_entropy(logits):\n"
    "    return [0.5] * 500_000\n"
    "def policy_gradient_loss(log_probs, weights):\n"
    "    return -(log_probs * weights).mean()\n"
)

# Right, and slow: waits most of each check's time limit in its first function.
SLOW = (
    "import time, torch\n"
    + RETURNS.replace("    return returns", "    time.sleep({DELAY})\n    return returns")
    + CORRECT_REST
)

# Returns tensors on the meta device (a shape and a dtype, no values).
META = (
    "import torch\n"
    + RETURNS.replace("    return returns", "    return returns.to('meta')")
    + CORRECT_REST.replace(
        "    return -(log_probs * weights).mean()",
        "    return (-(log_probs * weights).mean()).to('meta')",
    )
)
