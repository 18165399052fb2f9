"""The one user-facing error type.

Raise UchiError for anything a user can fix; the CLI and the Slack bot turn it into a message in
one place each. Everything else is a bug and propagates.
"""


class UchiError(Exception):
    """A problem the user can fix; the message says what to do."""


class ConfigError(UchiError):
    """Every problem found in the configuration, reported at once."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
