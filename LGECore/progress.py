"""Progress lines that a parent process (the Slicer module) can read from a running command.

A command prints `progress: 40% finding remote myocardium` to stderr; `parse_progress_line`
turns such a line back into (40, "finding remote myocardium").
"""

import re
import sys

_PATTERN = re.compile(r"^progress:\s*(\d{1,3})%\s*(.*)$")


def report(percent, message, stream=None):
    """Print one progress line (flushed at once, so a reader sees it while the work goes on)."""
    stream = stream or sys.stderr
    print(f"progress: {int(round(percent))}% {message}", file=stream, flush=True)


def parse_progress_line(line):
    """(percent, message) of a progress line, or None for any other line."""
    match = _PATTERN.match(line.strip())
    if not match:
        return None
    return min(100, int(match.group(1))), match.group(2)
