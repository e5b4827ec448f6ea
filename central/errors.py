"""The root of central's exception tree; each module defines its own subclasses beside its code."""


class CentralError(Exception):
    """Base class of every error central raises on purpose; `reason` is the operator-facing text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
