"""The ``rtad`` command line: one console script, one subcommand per service entrypoint."""
