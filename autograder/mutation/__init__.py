"""Mutation testing of the checks: mutants of the references, graded by the checks."""
