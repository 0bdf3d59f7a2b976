"""Errors that the command line turns into one clear line and a non-zero exit."""


class RtadError(Exception):
    """An expected failure (bad input, unreachable broker...): ``str()`` is the whole message."""

    exit_code = 1
