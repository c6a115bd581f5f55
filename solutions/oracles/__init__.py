"""Oracles: what a property expects, computed directly from the definitions.

Some properties compare a function's output with a value computed another way
(``torch.distributions``, a dense solve, the gradient worked out on paper, a special case
of the formula). Such a formula is the answer, or one small edit from it, so it lives here,
on the instructor's side. The student tree keeps the property and its fixed inputs; the
value it expects is stored in the module's fixture file by ``ppo-course fixtures``.

Convention (one file per module, named like the module's reference file):
``solutions/oracles/mNN_name.py`` defines ``ORACLES``, a mapping from an oracle's name to
a function ``oracle(inputs) -> expected value``. In the check file the property says
``expect=stored("name")``, and the file ends with ``CHECKS = bind_stored([...])``, which
ties each stored expectation to its check and property name (the key in the fixture
file). The files use absolute imports: they are loaded by file, not as a package.
"""
