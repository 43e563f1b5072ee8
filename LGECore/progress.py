"""Progress: one scale everywhere, a fraction 0..1 with a message, `progress(fraction, message)`.

A command run in a background process prints `progress: 40% finding remote myocardium` to stderr
(`report`); the parent process (the Slicer panel) reads it back with `parse_progress_line` as
(0.4, "finding remote myocardium"). Those two are the only places that speak in percent.
"""

import re
import sys

_PATTERN = re.compile(r"^progress:\s*(\d{1,3})%\s*(.*)$")


def report(fraction, message, stream=None):
    """Print one progress line (flushed at once, so a reader sees it while the work goes on)."""
    stream = stream or sys.stderr
    print(f"progress: {int(round(100 * fraction))}% {message}", file=stream, flush=True)


def parse_progress_line(line):
    """(fraction 0..1, message) of a progress line, or None for any other line."""
    match = _PATTERN.match(line.strip())
    if not match:
        return None
    return min(100, int(match.group(1))) / 100.0, match.group(2)


def quiet(fraction, message):
    """A progress callback that shows nothing."""


def scaled(progress, start, end):
    """`progress` for a step that spans [start, end] of the whole: its 0..1 maps onto that range."""
    return lambda fraction, message: progress(start + (end - start) * fraction, message)
