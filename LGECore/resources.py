"""The memory guard: work that would need more memory than a documented limit is refused before
it allocates anything, with the estimate and the limit named.

The limit is 8 GB unless SCARSYNTH_MEMORY_LIMIT_GB sets another (a server with more memory may
raise it). Estimates are measured per command (see `segment_dl`'s), rounded up.
"""

import math
import os

from .errors import InputError

MEMORY_LIMIT_VARIABLE = "SCARSYNTH_MEMORY_LIMIT_GB"
DEFAULT_MEMORY_LIMIT_GB = 8.0


def memory_limit_gb():
    """The limit in GB: SCARSYNTH_MEMORY_LIMIT_GB when set, else 8."""
    text = os.environ.get(MEMORY_LIMIT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_MEMORY_LIMIT_GB
    try:
        limit = float(text)
    except ValueError:
        limit = math.nan
    if not (math.isfinite(limit) and limit > 0):
        raise InputError(f"{MEMORY_LIMIT_VARIABLE} must be a number of GB above 0; got {text!r}.")
    return limit


def check_memory(needed_bytes, what):
    """InputError when `what` would need more than the memory limit."""
    limit = memory_limit_gb()
    if needed_bytes > limit * 1e9:
        raise InputError(f"{what} would need about {needed_bytes / 1e9:.1f} GB of memory, more than the limit of "
                         f"{limit:g} GB; crop the image to the heart, or raise {MEMORY_LIMIT_VARIABLE} on a machine "
                         "with more memory.")
