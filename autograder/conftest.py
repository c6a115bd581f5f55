"""pytest front end of the autograder: ``pytest autograder --impl exercises|solutions|PATH``.

One test per check (``m01.discounted_returns``, ...), run on the implementation in an
isolated worker process, exactly as ``ppo-course check`` does. Options:

--impl       exercises (default), solutions, or a folder laid out like exercises/
--module     restrict to some modules (repeatable): --module m01 --module m02
--hidden-seed  seed of the hidden cases (default: as ppo-course check)
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ppo-course autograder")
    group.addoption("--impl", default="exercises", help="exercises, solutions or a folder")
    group.addoption("--module", action="append", default=[], help="a module id, e.g. m01")
    group.addoption("--hidden-seed", type=int, default=None, help="seed of the hidden cases")


def _selected_checks(config: pytest.Config):
    from autograder.engine import graded_modules, load_checks
    from course.modules import lookup

    wanted = config.getoption("--module")
    modules = [lookup(m) for m in wanted] if wanted else graded_modules()
    return [check for module in modules for check in load_checks(module)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "check" in metafunc.fixturenames:
        checks = _selected_checks(metafunc.config)
        metafunc.parametrize("check", checks, ids=[c.id for c in checks])


@pytest.fixture(scope="session")
def executor(request: pytest.FixtureRequest):
    from autograder.runner import IsolatedExecutor
    from course import impl

    try:
        folder = impl.resolve(request.config.getoption("--impl"))
    except impl.ImplError as exc:
        pytest.exit(f"--impl: {exc}", returncode=4)
    with IsolatedExecutor(folder) as running:
        yield running


@pytest.fixture(scope="session")
def hidden_seed(request: pytest.FixtureRequest):
    from autograder.engine import hidden_seed as default_seed

    chosen = request.config.getoption("--hidden-seed")
    return default_seed() if chosen is None else chosen
