"""Atomic file output: a file appears under its name only once it is complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    The temporary file lives in the same folder (so the final rename is atomic on POSIX and
    Windows) and keeps the suffix of ``path`` (so writers that choose a format by suffix
    still work). If the block raises, or the process is killed, ``path`` is left as it was:
    absent, or the previous complete file. A failed block removes its temporary file.

    Parameters
    ----------
    path : str or path-like
        The file to write.

    Examples
    --------
    >>> with atomic_path("labels.tif") as tmp:  # doctest: +SKIP
    ...     tifffile.imwrite(tmp, labels)
    """
    target = Path(path)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".partial{target.suffix}", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        if target.exists():
            # mkstemp creates the file 0600; a replaced file keeps its permissions.
            os.chmod(temporary, target.stat().st_mode & 0o7777)
        else:
            os.chmod(temporary, 0o666 & ~_UMASK)
        os.replace(temporary, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            temporary.unlink()
        if isinstance(error, OSError) and error.errno is not None:
            raise OSError(error.errno, f"cannot write {str(target)!r}: {error.strerror}") from error
        raise
