"""Error types. Every error parity raises on bad input derives from :class:`ParityError`.

The CLI prints a ``ParityError`` as one line and exits with its ``exit_code``; anything
else is a bug and gets a traceback.
"""

from __future__ import annotations

import re

_LINE_BREAKS = re.compile(r"\s*[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+\s*")


class ParityError(Exception):
    """Root of parity's own errors: a problem with the user's input, not a bug.

    Its text is always one line: line breaks (from a framework's message) become spaces.
    """

    exit_code = 2

    def __str__(self) -> str:
        return _LINE_BREAKS.sub(" ", super().__str__()).strip()


class UsageError(ParityError, ValueError):
    """Options that cannot work together, or a value out of range."""


class ModelLoadError(ParityError):
    """A model file is missing, unreadable, or not what its name says."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{shown_path(path)}: {problem}")
        self.path = path
        self.problem = problem


def shown_path(path: object) -> str:
    """A path as printed in a message; quoted when it holds control characters."""
    text = str(path)
    return text if text.isprintable() else repr(text)


class InputError(ParityError, ValueError):
    """An input tensor or image cannot be fed to a model."""


class BackendUnavailable(ParityError, ImportError):
    """A framework needed for a model is not installed."""

    def __init__(self, backend: str, extra: str, reason: str = "") -> None:
        detail = f" ({reason})" if reason else ""
        super().__init__(
            f"the {backend} backend is not available{detail}: pip install 'parity[{extra}]'"
        )
        self.backend = backend
        self.extra = extra


class NodeNotFound(ParityError, LookupError):
    """A node name that the graph does not have; the message lists the closest names."""

    def __init__(self, name: str, where: str, candidates: list[str]) -> None:
        hint = f"; closest: {', '.join(candidates)}" if candidates else ""
        super().__init__(f"{where}: no node named {name!r}{hint}")
        self.name = name


class ParityAssertionError(AssertionError):
    """Raised by ``Report.assert_ok`` (and so ``parity.assert_parity``): the compact text of
    the first divergence, with the whole :class:`~parity.report.Report` as ``.report``."""

    def __init__(self, message: str, report: object) -> None:
        super().__init__(message)
        self.report = report
