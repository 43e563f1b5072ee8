"""AHABullseyeLib: the AHA 17-segment model on the LV myocardium, per-segment quantification
(scar extent, transmurality, MVO) and the bullseye plot. Builds on LGECore.

No import of slicer, qt, ctk or vtk here, except in scene.py (the MRML-facing file).
"""

__version__ = "0.1.0"
