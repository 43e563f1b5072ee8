"""Long work while the caller stays responsive: the one background mechanism of the three panels.

`run_in_background(work, progress)` runs `work` and calls `progress(fraction, message)` every
`tick` seconds, so a GUI can process events and show how far it got; when `progress` raises (the
user pressed Cancel) the work is stopped or abandoned and the exception goes on to the caller.
`work` is either a command (argument list), run as a separate process whose stderr progress lines
("progress: 40% ...") feed the callback and which Cancel stops (ScarSegment: torch work that a
crash or Cancel must not take down with Slicer), or a function, run in a worker thread that must
not touch MRML nodes, whose result is dropped on Cancel (ScarSynth's synthesis).
"""

import os
import queue
import subprocess
import sys
import threading
import time
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
                    fraction, message = parsed
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


def run_in_thread(function, progress=None, fraction=0.0, message="", tick=0.1):
    """Return function() computed in a worker thread, calling progress(fraction, message) meanwhile
    (the message with the seconds so far). If `progress` raises, that exception propagates at once
    and the worker's result, when it comes, is dropped."""
    outcome = {}

    def work():
        try:
            outcome["value"] = function()
        except BaseException as error:  # handed to the calling thread
            outcome["error"] = error

    worker = threading.Thread(target=work, name="ScarSynth worker", daemon=True)
    started = time.monotonic()
    worker.start()
    while worker.is_alive():
        if progress is not None:
            progress(fraction, f"{message} ({time.monotonic() - started:.0f} s)" if message else "")
        worker.join(tick)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def run_in_background(work, progress=None, **options):
    """Run `work`, a command (argument list: run_with_progress, its stderr lines for a result) or a
    function (run_in_thread, its return value), with `progress` called all the while."""
    if callable(work):
        return run_in_thread(work, progress, **options)
    return run_with_progress(list(work), progress, **options)


def python_executable():
    """The Python that runs the command: this interpreter (PythonSlicer inside Slicer), or
    PythonSlicer when this process is the Slicer application itself (older Slicer versions set
    sys.executable to the application). A PythonSlicer on the PATH outside Slicer is not used:
    it would run the command without this environment's packages."""
    import shutil

    if Path(sys.executable or "").name.lower().startswith("python"):
        return sys.executable
    return shutil.which("PythonSlicer") or sys.executable
