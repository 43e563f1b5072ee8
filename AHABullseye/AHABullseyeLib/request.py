"""The AHA split's options in one place (apex side and numbering direction, with their choices and
help), shared by `scarsynth aha`, `scarsynth run`, the AHABullseye panel and segment_aha."""

from dataclasses import dataclass

from LGECore.requests import option

from .orientation import APEX_CHOICES, DIRECTION_CHOICES

APEX_HELP = "which end of the stack is the apex: auto (image geometry, else anatomy), first or last slice"


@dataclass(frozen=True)
class AHARequest:
    apex: str = option("auto", "--apex", APEX_HELP, choices=APEX_CHOICES)
    direction: str = option(
        "auto", "--direction", "segment numbering seen from the apex (auto = anticlockwise, the AHA "
                               "convention; clockwise corrects a mirrored image geometry)", choices=DIRECTION_CHOICES)
