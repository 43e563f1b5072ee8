"""ScarSynthLib: LGE phantoms, AHA-guided scar masks and conditional diffusion synthesis.

Pure Python core (no slicer, qt, ctk or vtk imports except in scene.py). Heavy libraries (torch,
monai, diffusers) are imported inside functions, never at import time.
"""

__version__ = "0.1.0"
