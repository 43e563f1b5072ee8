"""Writing outputs so that nothing is lost: files whole or not at all, a command's outputs together
or not at all, never over an input, and the output folder checked before any work."""

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError


def _default_file_mode():
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def check_outputs_spare_inputs(outdir, names, inputs):
    """InputError if writing `names` into `outdir` would replace one of the input files."""
    for name in names:
        target = (Path(outdir) / name).resolve()
        for path in inputs:
            if path and Path(path).exists() and Path(path).resolve() == target:
                raise InputError(f"Refusing to overwrite the input {path}; choose another output folder.")


def write_text_atomic(text, path):
    """Write a text file whole or not at all, with the permissions of any new file."""
    path = Path(path)
    with written_whole(path) as temporary:
        with open(temporary, "w", newline="") as stream:
            stream.write(text)
    return path


def write_bytes_atomic(data, path):
    """Write bytes (a PNG, say) whole or not at all, with the permissions of any new file."""
    path = Path(path)
    with written_whole(path) as temporary:
        Path(temporary).write_bytes(data)
    return path


@contextmanager
def written_whole(path, suffix=""):
    """Yield a temporary file name beside `path`; the file becomes `path` only when the block
    ends without error, with a new file's usual permissions (mkstemp makes owner-only files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, _default_file_mode())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def check_output_dir(outdir):
    """InputError, before any work, when `outdir` cannot become an output folder."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"The output folder {outdir} is a file; choose a folder.")
    existing = next(path for path in (outdir, *outdir.parents) if path.exists())
    if not existing.is_dir():
        raise InputError(f"Cannot make the output folder {outdir}: {existing} is a file.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"Cannot write the output folder {outdir}: no permission to write in {existing}.")


@contextmanager
def atomic_output_dir(outdir, replaces=()):
    """Yield a temporary folder; on success move its files into `outdir`, on failure drop them.

    Outputs of one command thus appear together or not at all. In an existing `outdir`, the files
    they replace, and the outputs named in `replaces` that this run did not write (an earlier
    run's, which would no longer match), are removed; other files there are kept.
    """
    outdir = Path(outdir)
    check_output_dir(outdir)
    _refuse_folders(outdir, replaces)
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    try:
        yield staging
        _move_into(staging, outdir, replaces)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _refuse_folders(outdir, names):
    for name in names:
        if (outdir / name).is_dir() and not (outdir / name).is_symlink():
            raise InputError(f"{outdir / name} is a folder; an output file of that name cannot replace it.")


def _move_into(staging, outdir, replaces):
    """Move the staged files into `outdir`; the files they displace wait in a backup folder until
    all are in, so a failure half-way leaves `outdir` as it was."""
    new = sorted(path.name for path in staging.iterdir())
    created = not outdir.exists()
    outdir.mkdir(parents=True, exist_ok=True)
    old = [name for name in sorted(set(new) | set(replaces)) if os.path.lexists(outdir / name)]
    _refuse_folders(outdir, old)
    backup = Path(tempfile.mkdtemp(prefix=".replaced.", dir=staging))
    moved_old, moved_new = [], []
    try:
        for name in old:
            os.replace(outdir / name, backup / name)
            moved_old.append(name)
        for name in new:
            os.replace(staging / name, outdir / name)
            moved_new.append(name)
    except OSError:
        for name in moved_new:
            os.replace(outdir / name, staging / name)
        for name in moved_old:
            os.replace(backup / name, outdir / name)
        if created:
            outdir.rmdir()
        raise
