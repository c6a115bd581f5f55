"""Shared fixtures of the project's own tests."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def graded_modules():
    from autograder.engine import graded_modules

    return graded_modules()
