"""The 2D segmentation network (a MONAI residual U-Net) and its settings.

The settings travel with the weights in the JSON registry entry, so a model can always be rebuilt
exactly as it was trained.
"""

from dataclasses import asdict, dataclass, field
from functools import lru_cache

NUM_CLASSES = 5  # background, LV blood pool, healthy myocardium, scar, MVO


@dataclass
class NetworkSettings:
    """Architecture and input conventions of a trained segmenter."""

    channels: tuple = (16, 32, 64, 128, 256)
    strides: tuple = (2, 2, 2, 2)
    num_res_units: int = 1
    dropout: float = 0.1
    pixel_spacing_mm: float = 1.35  # in-plane grid the network works on
    patch_size: int = 128  # square patch, in pixels of that grid
    percentiles: tuple = (1.0, 99.5)  # intensity normalisation: these map to 0 and 1
    # ... percentiles of the network's window around the LV (over all slices) rather than of the
    # whole image, whose share of air and body depends on the scanner's field of view
    window_normalisation: bool = False
    num_classes: int = NUM_CLASSES
    # Neighbouring slices on each side given as extra input channels (2.5D): they tell the apex,
    # where the LV ends, from a mid-ventricular slice. 0 = the slice alone.
    context_slices: int = 0
    # Distance between a slice and its neighbours in the training stacks (EMIDEC's, assumed; the
    # phantoms' 8-10 mm); thinner stacks take neighbours several slices away.
    neighbour_spacing_mm: float = 10.0
    # The cascade's scar network also sees the anatomy network's blood-pool and myocardium
    # probabilities: 2 more input channels. 0 for the anatomy network.
    anatomy_channels: int = 0
    # The scar network's claim at inference: its scar and MVO also count in blood-pool and background
    # pixels within this many pixels of the anatomy's myocardium, where the anatomy network misses
    # bright scar beside bright blood. 0 = it only splits the anatomy's myocardium (the presets: in 5-fold
    # CV a claim raised scar Dice but also the scar drawn in normal hearts and the burden error).
    claims_border_px: int = 0
    # Groups of the network's outputs that the pipeline reads as one class each (their probabilities
    # summed): the anatomy network learns infarcted myocardium as an output of its own, so that
    # bright scar is not one shade of "myocardium" among many, and the pipeline reads it as
    # myocardium. () = each output is its own class.
    class_groups: tuple = ()
    extra: dict = field(default_factory=dict)

    @property
    def in_channels(self):
        return 1 + 2 * self.context_slices + self.anatomy_channels

    def to_dict(self):
        values = asdict(self)
        values["channels"] = list(self.channels)
        values["strides"] = list(self.strides)
        values["percentiles"] = list(self.percentiles)
        values["class_groups"] = [list(group) for group in self.class_groups]
        return values

    @classmethod
    def from_dict(cls, values):
        known = {name: values[name] for name in cls.__dataclass_fields__ if name in values}
        for name in ("channels", "strides", "percentiles"):
            if name in known:
                known[name] = tuple(known[name])
        if "class_groups" in known:
            known["class_groups"] = tuple(tuple(group) for group in known["class_groups"])
        return cls(**known)


def build_network(settings):
    """A 2D residual U-Net mapping (N, C, H, W) slices (C = the slice and its neighbours) to
    (N, 5, H, W) class logits."""
    from monai.networks.nets import UNet

    return UNet(
        spatial_dims=2,
        in_channels=settings.in_channels,
        out_channels=settings.num_classes,
        channels=tuple(settings.channels),
        strides=tuple(settings.strides),
        num_res_units=settings.num_res_units,
        dropout=settings.dropout,
        norm="instance",
    )


def grouped_outputs(network, settings):
    """`network` whose logits are those of `settings.class_groups` (the log of each group's summed
    exponentials, so that softmax gives each group's summed probability); `network` itself without
    groups, or where it is grouped already. The trained network stays `.ungrouped`."""
    if not settings.class_groups or hasattr(network, "ungrouped"):
        return network
    return _grouped_class()(network, settings.class_groups)


@lru_cache(maxsize=1)
def _grouped_class():
    import torch

    class GroupedOutputs(torch.nn.Module):
        def __init__(self, network, groups):
            super().__init__()
            self.ungrouped = network
            self.groups = [list(group) for group in groups]

        def forward(self, inputs):
            logits = self.ungrouped(inputs)
            return torch.cat([torch.logsumexp(logits[:, g], dim=1, keepdim=True) for g in self.groups], dim=1)

    return GroupedOutputs
