"""Slicer-side helpers shared by the ScarSynth modules: installing dependencies, panel progress.

Slicer installs all scripted modules of the extension into one folder, so ScarSegment and
ScarSynth import this package from AHABullseye's folder. Nothing heavy is imported here.
"""

from .dependencies import MissingDependencies, ensure_dependencies, missing_modules  # noqa: F401
from .progress import Cancelled, PanelProgress  # noqa: F401

