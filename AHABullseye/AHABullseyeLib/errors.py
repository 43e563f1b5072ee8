"""Exceptions that carry a message meant for the user."""


class ScarSynthError(Exception):
    """Base class of every error ScarSynth raises on purpose."""


class InputError(ScarSynthError, ValueError):
    """An input (file, array, geometry, parameter) is unusable; the message names the problem."""


class WeightsError(ScarSynthError):
    """Model weights are missing, corrupt or do not match their checksum."""
