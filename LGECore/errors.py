"""Exceptions that carry a message meant for the user."""


class ScarSynthError(Exception):
    """Base class of every error ScarSynth raises on purpose."""


class InputError(ScarSynthError, ValueError):
    """An input (file, array, geometry, parameter) is unusable; the message names the problem."""


class WeightsError(ScarSynthError):
    """Model weights are missing, corrupt or do not match their checksum."""


class TrainingDiverged(ScarSynthError):
    """A training loss or the weights became NaN or infinite; nothing of that step is kept."""


def itk_reason(error):
    """The informative last line of a SimpleITK RuntimeError. ITK appends a stale errno ("No such
    file or directory") to a damaged file's error; that line is left out."""
    lines = [line for line in str(error).strip().splitlines() if line != "Reason: No such file or directory"]
    return lines[-1] if lines else "unreadable"
