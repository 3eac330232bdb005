"""Writing what the user asked for, and nothing else: the rules every output of parity keeps.

- An output that already exists is replaced only with ``force`` (CLI ``--force``).
- An output that is one of the command's inputs (the same file, or a folder holding one)
  is always refused, ``force`` or not.
- A file is written to a temporary name beside it (created ``O_EXCL | O_NOFOLLOW``, so a
  planted symlink is never followed) and renamed into place: an interrupted write leaves
  the previous file whole, and a symlink at the target is replaced, not written through.
- A folder (``--save-tensors DIR``) is built as a temporary folder beside it and renamed
  into place when complete; only a folder holding nothing but a saved run is replaced.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import UsageError, shown_path

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) \
    | getattr(os, "O_CLOEXEC", 0)


def check_outputs(outputs: Iterable[tuple[str, Path | None]],
                  inputs: Iterable[str | Path | None], force: bool) -> None:
    """Refuse, before any work, outputs that would replace an input or an existing file.

    ``outputs`` are ``(option, path)`` pairs (``("--output", Path("r.json"))``).
    """
    given = [Path(p) for p in inputs if p is not None and str(p)]
    named = [(option, path) for option, path in outputs if path is not None]
    for option, path in named:
        for source in given:
            if _same(path, source) or _inside(source, path):
                raise UsageError(f"{option} {shown_path(path)} would replace the input "
                                 f"{shown_path(source)}; choose another path")
        if _exists(path) and not force:
            kind = "folder" if path.is_dir() else "file"
            raise UsageError(f"{option} {shown_path(path)}: the {kind} exists; pass --force "
                             "to replace it")
    for index, (option, path) in enumerate(named):
        for other_option, other in named[index + 1:]:
            if _same(path, other) or _inside(path, other) or _inside(other, path):
                raise UsageError(f"{option} and {other_option} both write "
                                 f"{shown_path(path)}; choose different paths")


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies within the folder ``folder`` (which a folder output replaces)."""
    if not folder.is_dir() or folder.is_symlink():
        return False
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return real.startswith(root.rstrip(os.sep) + os.sep)


def write_file(path: Path, write: Callable[[BinaryIO], None], force: bool = False) -> None:
    """Write ``path`` through ``write(handle)``: a temporary file beside it, renamed into place.

    Without ``force`` an existing ``path`` is left alone (the rename is a hard link, which
    never replaces). Raises :class:`UsageError` naming ``path`` when it cannot be written.
    """
    try:
        with _temporary_file(path) as temporary:
            with open(temporary, "wb") as handle:
                write(handle)
            if force:
                os.replace(temporary, path)
            else:
                os.link(temporary, path, follow_symlinks=False)
    except FileExistsError:
        raise UsageError(f"{shown_path(path)}: the file exists; pass --force to replace it") \
            from None
    except IsADirectoryError:
        raise UsageError(f"{shown_path(path)}: is a folder, expected a file name") from None
    except OSError as exc:
        raise UsageError(f"{shown_path(path)}: cannot write it ({exc.strerror or exc})") \
            from None


@contextmanager
def _temporary_file(path: Path) -> Iterator[Path]:
    """A new empty file beside ``path`` (``O_EXCL | O_NOFOLLOW``), removed afterwards."""
    folder = path.parent if str(path.parent) else Path(".")
    for attempt in range(100):
        temporary = folder / f".{path.name}.parity-{os.getpid()}-{attempt}.tmp"
        try:
            os.close(os.open(temporary, _CREATE, 0o644))
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - a hundred stale temporary files
        raise UsageError(f"{shown_path(path)}: cannot create a temporary file beside it")
    try:
        yield temporary
    finally:
        temporary.unlink(missing_ok=True)


def open_new(path: Path) -> BinaryIO:
    """A new file opened for writing; never follows a symlink, never replaces a file."""
    return os.fdopen(os.open(path, _CREATE, 0o644), "wb")


class StagedFolder:
    """A folder built beside ``target`` and renamed onto it by :meth:`commit`.

    ``saved_names`` are the only entries an existing ``target`` may hold to be replaced
    (with ``force``); a folder holding anything else is the user's and is refused.
    """

    def __init__(self, target: Path, saved_names: Iterable[str], force: bool) -> None:
        self.target = target
        self._force = force
        _check_replaceable(target, set(saved_names), force)
        parent = target.parent if str(target.parent) else Path(".")
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self.path = Path(tempfile.mkdtemp(prefix=f".{target.name}.parity-", dir=parent))
        except OSError as exc:
            raise UsageError(f"{shown_path(target)}: cannot create the folder "
                             f"({exc.strerror or exc})") from None

    def commit(self) -> None:
        """Put the finished folder at ``target``; an earlier saved run there is replaced."""
        previous = None
        if os.path.lexists(self.target):
            if not _is_empty_folder(self.target):
                _check_replaceable(self.target, set(), self._force)
                previous = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.old-",
                                                 dir=self.path.parent))
                os.replace(self.target, previous / "run")
            else:
                self.target.rmdir()
        os.replace(self.path, self.target)
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)

    def discard(self) -> None:
        """Remove the unfinished folder; ``target`` is left as it was."""
        shutil.rmtree(self.path, ignore_errors=True)


def _is_empty_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def _check_replaceable(target: Path, saved_names: set[str], force: bool) -> None:
    if not os.path.lexists(target) or _is_empty_folder(target):
        return
    if not force:
        raise UsageError(f"{shown_path(target)}: the folder exists; pass --force to replace "
                         "the saved run in it")
    if saved_names and (target.is_symlink() or not target.is_dir()
                        or not {p.name for p in target.iterdir()} <= saved_names):
        raise UsageError(f"{shown_path(target)}: holds files that are not a saved run; "
                         "choose a new or empty folder")
