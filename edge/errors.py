"""The edge's exception tree; retryable and permanent upload failures are different types."""


class EdgeError(Exception):
    """Base class of every error the edge raises on purpose."""


class EdgeBufferError(EdgeError):
    """The local SQLite buffer cannot be used (not open, schema from the future, disk error)."""


class BufferWriteError(EdgeBufferError):
    """Retryable: the disk refused a write (full, I/O error); nothing of the transaction is kept.

    The committer acknowledges nothing and retries the same messages; the uploader keeps its rows.
    """


class IntakeError(EdgeError):
    """The MQTT intake cannot be used (not entered, connection refused for good)."""


class UploadError(EdgeError):
    """Central did not confirm a batch; the rows stay in the buffer."""

    def __init__(self, reason: str, *, status_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class RetryableUploadError(UploadError):
    """Transient: 5xx, 429, timeout, connection error, an unreadable answer. Back off, retry."""


class PermanentUploadError(UploadError):
    """Resending unchanged cannot help (401/403/413/4xx): needs an operator or a smaller batch."""
