"""Run a command as a separate process while the caller stays responsive (the Slicer panel).

The command's stderr progress lines ("progress: 40% ...") are passed to a callback, which is
also called every `tick` seconds so a GUI can process events; when the callback raises (the user
pressed Cancel) the process is stopped and the exception goes on to the caller.
"""

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

from .errors import ScarSynthError
from .progress import parse_progress_line


class CommandFailed(ScarSynthError):
    """The background command ended with an error; the message is its own last words."""


def lib_environment(packages=()):
    """Environment whose PYTHONPATH finds LGECore and the given imported `packages` (the Libs the
    command needs) of this installation: inside Slicer, the scripted modules' folders."""
    import LGECore

    folders = [str(Path(m.__file__).resolve().parents[1]) for m in (LGECore, *packages)]
    environment = dict(os.environ)
    existing = [p for p in environment.get("PYTHONPATH", "").split(os.pathsep) if p]
    environment["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(folders + existing))
    return environment


def _utf8(environment):
    """`environment` with the child's stderr in UTF-8, which the caller reads whatever its own
    locale: a host application may have set the C (ASCII) locale, and messages hold non-ASCII."""
    return {**environment, "PYTHONIOENCODING": "utf-8"}


def _read_lines(stream, lines):
    for line in stream:
        lines.put(line)
    lines.put(None)


def run_with_progress(command, progress=None, environment=None, tick=0.1):
    """Run `command` (argument list); `progress(fraction 0..1, message)` sees its progress.

    Raises CommandFailed with the command's error message when it exits with an error, and
    re-raises whatever `progress` raises after stopping the process.
    """
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace",
        env=_utf8(environment if environment is not None else lib_environment()),
        creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))  # no console window on Windows
    lines = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(process.stderr, lines), daemon=True)
    reader.start()
    other_lines, fraction, message, finished = [], 0.0, "", False
    try:
        while not finished:
            try:
                line = lines.get(timeout=tick)
            except queue.Empty:
                line = ""
            if line is None:
                finished = True
            elif line:
                parsed = parse_progress_line(line)
                if parsed:
                    fraction, message = parsed[0] / 100.0, parsed[1]
                else:
                    other_lines.append(line.rstrip())
            if progress is not None:
                progress(fraction, message)
        process.wait()
    except BaseException:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        raise
    if process.returncode != 0:
        errors = [line for line in other_lines if line.strip()]
        if not errors:
            raise CommandFailed(f"The command failed (exit code {process.returncode}).")
        raise CommandFailed(errors[-1].split(": error: ", 1)[-1])  # drop the "segment: error:" prefix
    return other_lines


def python_executable():
    """The Python that runs the command: this interpreter (PythonSlicer inside Slicer), or
    PythonSlicer when this process is the Slicer application itself (older Slicer versions set
    sys.executable to the application). A PythonSlicer on the PATH outside Slicer is not used:
    it would run the command without this environment's packages."""
    import shutil

    if Path(sys.executable or "").name.lower().startswith("python"):
        return sys.executable
    return shutil.which("PythonSlicer") or sys.executable
