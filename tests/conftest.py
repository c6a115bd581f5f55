"""Shared fixtures of the project's own tests."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def graded_modules():
    from autograder.engine import graded_modules

    return graded_modules()


def pytest_collection_modifyitems(config, items):
    """The files whose tests share an expensive set-up (a built site, a release, a graded
    class; marked ``xdist_group``) run first, so that under pytest-xdist the single tests
    fill the workers around them instead of one group running alone at the end. The order
    within a file is kept."""
    items.sort(key=lambda item: item.get_closest_marker("xdist_group") is None)
