"""ScarSegmentLib: LV, myocardium, scar and MVO segmentation of LGE MRI, and its quantification.

Pure Python core (no slicer, qt, ctk or vtk imports except in scene.py). Heavy libraries (torch,
monai) are imported inside functions, never at import time.
"""

__version__ = "0.1.0"
