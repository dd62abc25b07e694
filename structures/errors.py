"""The one error a structure operation raises for bad input: a message for the user, and the line if known."""

from __future__ import annotations


class StructureError(ValueError):
    """The file or request cannot be used; ``str()`` says why in words a lab member understands."""

    def __init__(self, message: str, line: int | None = None):
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)
