"""Errors shared by the command-line front ends."""


class UsageError(Exception):
    """A problem with how a command was called; its message is one line."""
