"""What a segmentation is asked to do: the one place for the methods, the options' defaults and
their checks, shared by `scarsynth segment`, `scarsynth run`, the ScarSegment panel and Python."""

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

from LGECore.device import COMMAND_LINE_DEVICES
from LGECore.errors import InputError, WeightsError
from LGECore.models import is_model_name
from LGECore.requests import option

METHODS = ("dl", "nsd", "fwhm")  # deep network, n SD above remote myocardium, FWHM
THRESHOLD_METHODS = ("nsd", "fwhm")


@dataclass(frozen=True)
class SegmentRequest:
    method: str = option("dl", "--method", "deep network (default), n-SD threshold or FWHM threshold",
                         choices=METHODS)
    n_sd: float = option(5.0, "--sd", "n for the n-SD threshold: 2, 3, 5 (default) or 6 SD above remote",
                         type=float)
    myocardium: Optional[str] = option(
        None, "--myocardium", "label map on the image grid whose LV myocardium (2, 3, 4) the thresholds "
                              "use; default: the deep network's", metavar="LABELS")
    remote: Optional[str] = option(None, "--remote", "mask of remote myocardium (non-zero voxels); "
                                                     "default: found automatically", metavar="MASK")
    device: Optional[str] = option(None, "--device", "device of the deep network", choices=COMMAND_LINE_DEVICES)
    weights: Optional[str] = option(None, "--weights", "other network weights (.safetensors)", metavar="PATH")
    dicom: bool = option(False, "--dicom", "for a DICOM folder: also write labels.seg.dcm, a DICOM Segmentation "
                                           "referencing the source series (run: and the report as report.pdf "
                                           "and report.pdf.dcm, an Encapsulated PDF)", action="store_true")
    spacing: Optional[tuple] = option(None, "--spacing", "voxel spacing in mm (column, row, slice) for files "
                                                         "whose header lost it", nargs=3, type=float,
                                      metavar=("X", "Y", "Z"))

    def check(self):
        """InputError (or WeightsError) naming the option that cannot work; returns self."""
        if self.method not in METHODS:
            raise InputError(f"Unknown method '{self.method}'; choose one of {', '.join(METHODS)}.")
        if self.method == "dl" and (self.myocardium or self.remote):
            raise InputError("--myocardium and --remote apply to --method nsd or fwhm only.")
        if not (math.isfinite(self.n_sd) and self.n_sd > 0):
            raise InputError(f"--sd must be a positive number of SDs (2 to 6 in clinical use); got {self.n_sd}.")
        if self.uses_network and self.weights and not Path(self.weights).exists() and not is_model_name(self.weights):
            raise WeightsError(f"Weights file not found: {self.weights}")
        return self

    @property
    def uses_network(self):
        """The network runs for dl, and for the thresholds when no myocardium is given."""
        return self.method == "dl" or not self.myocardium

    def with_method(self, method):
        return replace(self, method=method)


# `scarsynth run` also takes "auto": the network when a model is installed, else FWHM.
RUN_METHOD = dict(choices=("auto",) + METHODS, default="auto",
                  help="deep network, n-SD or FWHM threshold; auto (default): the network when a model "
                       "is installed, else FWHM inside the given myocardium")
