"""One source: exercises/ is exactly what generation gives, and generation is careful."""

from __future__ import annotations

import ast

import pytest

from course import paths, singlesource
from course.modules import BY_ID

MODULES = singlesource.solution_modules()


@pytest.mark.parametrize("module", MODULES, ids=[m.id for m in MODULES])
def test_committed_exercises_are_generated(module):
    expected = singlesource.expected_exercises([module])[module.filename]
    committed = (paths.EXERCISES_DIR / module.filename).read_text()
    assert committed == expected, f"exercises/{module.filename} is stale: run ppo-course build"


@pytest.mark.parametrize("module", MODULES, ids=[m.id for m in MODULES])
def test_stub_keeps_signatures_and_docstrings(module):
    solution = ast.parse((paths.SOLUTIONS_DIR / module.filename).read_text())
    stub = ast.parse((paths.EXERCISES_DIR / module.filename).read_text())

    def signatures(tree):
        out = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                out[node.name] = (
                    ast.dump(node.args),
                    ast.dump(node.returns) if node.returns else None,
                    ast.get_docstring(node),
                )
        return out

    assert signatures(stub) == signatures(solution)
    text = (paths.EXERCISES_DIR / module.filename).read_text()
    assert "### BEGIN SOLUTION" not in text
    for name in singlesource.exercise_names((paths.SOLUTIONS_DIR / module.filename).read_text()):
        docs = f"docs/{module.docs_page}#{name.split('.')[0]}"
        assert f'"{module.id}.{name}: not implemented yet"' in text
        assert f"# YOUR CODE HERE (see {docs})" in text


def test_stub_of_a_small_source():
    source = '''def f(x: int) -> int:
    """Double."""
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION


class A:
    def g(self):
        y = 1
        ### BEGIN SOLUTION
        return y
        ### END SOLUTION
'''
    stub = singlesource.make_stub(source, BY_ID["m01"])
    assert "return 2 * x" not in stub and "return y" not in stub
    assert "y = 1" in stub
    assert '"m01.f: not implemented yet"' in stub and '"m01.A.g: not implemented yet"' in stub
    assert "# YOUR CODE HERE (see docs/modules/m01_policy_gradient.md#f)" in stub
    assert "# YOUR CODE HERE (see docs/modules/m01_policy_gradient.md#A)" in stub
    assert all(len(line) <= 88 for line in stub.splitlines())
    namespace: dict = {}
    exec(compile(stub, "stub", "exec"), namespace)
    with pytest.raises(NotImplementedError, match=r"m01\.f: not implemented yet"):
        namespace["f"](1)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "inside a function"),
        ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "never closed"),
        ("def f():\n    return 1\n    ### END SOLUTION\n", "without"),
    ],
)
def test_bad_markers_are_reported(source, message):
    with pytest.raises(singlesource.SourceError, match=message):
        singlesource.make_stub(source, BY_ID["m01"])


def test_build_keeps_a_students_edits(tmp_path):
    module = MODULES[0]
    first = singlesource.build([module], target=tmp_path)
    assert first.written == [module.filename]
    path = tmp_path / module.filename
    path.write_text(path.read_text() + "\n# my work\n")
    again = singlesource.build([module], target=tmp_path)
    assert again.kept == [module.filename]
    assert path.read_text().endswith("# my work\n")
    forced = singlesource.build([module], target=tmp_path, force=True)
    assert forced.written == [module.filename]
    assert "# my work" not in path.read_text()


def test_build_updates_an_untouched_stub(tmp_path):
    module = MODULES[0]
    singlesource.build([module], target=tmp_path)
    path = tmp_path / module.filename
    # An older generation (recorded in the manifest) is replaced without --force.
    old = path.read_text().replace("Replace every", "Fill in every")
    path.write_text(old)
    manifest = tmp_path / singlesource.MANIFEST
    import json

    data = json.loads(manifest.read_text())
    data[module.filename] = singlesource._digest(old)
    manifest.write_text(json.dumps(data))
    result = singlesource.build([module], target=tmp_path)
    assert result.written == [module.filename]
