"""Errors raised when something on the wire does not follow the contract."""


class ContractError(ValueError):
    """Base class: input that does not follow the wire contract. Permanent: retrying cannot help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TopicError(ContractError):
    """An MQTT topic outside the `canteen/<site>/<kind>/<device>/<channel>` hierarchy."""


class PayloadError(ContractError):
    """A device payload that is not valid JSON, not UTF-8, too large, or not of the schema."""
