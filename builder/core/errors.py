"""The one error type the CLI turns into a clear message and a non-zero exit."""

from __future__ import annotations


class BuilderError(Exception):
    """A failure the user can act on: what failed, where, and what to do."""

    def __init__(self, message: str, fix: str | None = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message if not self.fix else f"{self.message}\n  fix: {self.fix}"
