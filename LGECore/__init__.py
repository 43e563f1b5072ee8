"""LGECore: the ground package that every ScarSynth module builds on.

Holds what is not specific to one module: errors, the in-memory volume, the label convention,
image I/O and DICOM, the weights registry, device choice, background running with progress, the
generic MRML conversions (scene.py, the one file that imports slicer and vtk) and the LGE phantom.
It imports no other ScarSynth package. Heavy libraries (torch) are imported inside functions.
"""

__version__ = "0.1.0"
