"""The 2D segmentation network (a MONAI residual U-Net) and its settings.

The settings travel with the weights in the JSON registry entry, so a model can always be rebuilt
exactly as it was trained.
"""

from dataclasses import asdict, dataclass, field

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
    num_classes: int = NUM_CLASSES
    extra: dict = field(default_factory=dict)

    def to_dict(self):
        values = asdict(self)
        values["channels"] = list(self.channels)
        values["strides"] = list(self.strides)
        values["percentiles"] = list(self.percentiles)
        return values

    @classmethod
    def from_dict(cls, values):
        known = {name: values[name] for name in cls.__dataclass_fields__ if name in values}
        for name in ("channels", "strides", "percentiles"):
            if name in known:
                known[name] = tuple(known[name])
        return cls(**known)


def build_network(settings):
    """A 2D residual U-Net mapping (N, 1, H, W) images to (N, 5, H, W) class logits."""
    from monai.networks.nets import UNet

    return UNet(
        spatial_dims=2,
        in_channels=1,
        out_channels=settings.num_classes,
        channels=tuple(settings.channels),
        strides=tuple(settings.strides),
        num_res_units=settings.num_res_units,
        dropout=settings.dropout,
        norm="instance",
    )
