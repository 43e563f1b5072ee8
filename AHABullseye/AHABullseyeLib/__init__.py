"""AHABullseyeLib: the pure-Python core shared by all ScarSynth modules.

Holds the in-memory volume, the label convention, image I/O and the AHA 17-segment model.
No import of slicer, qt, ctk or vtk here, except in scene.py (the MRML-facing file).
"""

__version__ = "0.1.0"
