"""Errors that the CLI turns into one line and an exit code.

Every data error locates itself: the file, and the record and line where known, so a
user can open the file at the right place.
"""

from __future__ import annotations


class SeqrayError(Exception):
    """Base class of errors that are the user's to fix (exit code 1)."""

    exit_code = 1


class InputError(SeqrayError):
    """A path that cannot be found, opened or read."""


class FormatError(SeqrayError):
    """Malformed input data, located by file, record (1-based) and line (1-based)."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        record: int | None = None,
        line: int | None = None,
        offset: int | None = None,
    ):
        self.message = message
        self.path = path
        self.record = record
        self.line = line
        self.offset = offset
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path)
        if self.record is not None:
            where.append(f"record {self.record}")
        if self.line is not None:
            where.append(f"line {self.line}")
        elif self.offset is not None:
            where.append(f"byte {self.offset}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message

    def __reduce__(self):
        # Ray ships exceptions between processes by pickling them.
        return (
            _rebuild_format_error,
            (type(self), self.message, self.path, self.record, self.line, self.offset),
        )


def _rebuild_format_error(cls, message, path, record, line, offset):
    return cls(message, path=path, record=record, line=line, offset=offset)


class PairingError(FormatError):
    """Mates of a pair that do not match (names or record counts)."""


class ConfigError(SeqrayError):
    """An invalid pipeline configuration or option (names the key and what is allowed).

    `fields` holds (stage config key, message) pairs when the error is about values of a
    stage's config, so a command can name the option the user typed instead of the key."""

    def __init__(self, message: str, fields: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.fields = fields or []

    def __reduce__(self):
        return (type(self), (str(self), self.fields))


class OutputError(SeqrayError):
    """An output that cannot be written, or whose writing would replace or delete a file
    seqray did not write (names the path)."""


class ManifestError(SeqrayError):
    """A manifest that is missing, unfinished, damaged or of another version."""


class ResumeError(SeqrayError):
    """A run that cannot be resumed safely (changed config or inputs)."""
