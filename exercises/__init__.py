"""Your implementations of the graded functions (generated stubs)."""
