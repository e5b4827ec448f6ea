"""Typed errors of the simulator: bad configuration is permanent, broker trouble may be retried."""


class SimulatorError(Exception):
    """Base class of everything the simulator raises on purpose."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RegistryError(SimulatorError):
    """The registry cannot be read, or a site in it cannot be simulated faithfully. Permanent."""

    def __init__(self, reason: str, *, path: str | None = None, site: str | None = None) -> None:
        where = " ".join(part for part in (path and f"{path}:", site and f"site {site!r}:") if part)
        super().__init__(f"{where} {reason}" if where else reason)
        self.path = path
        self.site = site


class ConfigurationError(SimulatorError):
    """Settings contradicting the registry (unknown site, meter grid off a window). Permanent."""


class BrokerError(SimulatorError):
    """The MQTT broker refused, dropped or did not acknowledge us. Retryable by running again."""

    def __init__(self, reason: str, *, device: str | None = None) -> None:
        super().__init__(f"{device}: {reason}" if device else reason)
        self.device = device
