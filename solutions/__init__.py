"""Reference implementations: the one source of every exercise."""
