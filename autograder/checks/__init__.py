"""One file per module: its checks (``CHECKS``) and the known mistakes they catch."""
