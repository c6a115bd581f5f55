"""The course's autograder: checks of every graded function, fixture files of known
outputs, the catalogue of known mistakes, an isolated runner and the reports.

Front ends: ``ppo-course check``, ``ppo-course grade``, ``pytest autograder`` and the
test cells of the nbgrader notebooks (:func:`autograder.notebook.check`).
"""
