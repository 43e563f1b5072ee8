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
    extra: dict = field(default_factory=dict)

    @property
    def in_channels(self):
        return 1 + 2 * self.context_slices

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


def widen_input(state, network):
    """`state` (weights of a network with fewer input channels) made to fit `network`, which has
    more neighbouring slices: the old input channels go to the middle and the new ones start at
    zero, so the widened network first predicts exactly as the old one did and then learns to use
    the neighbours."""
    import torch

    target = network.state_dict()
    widened = {}
    for name, tensor in state.items():
        wanted = target[name].shape if name in target else tensor.shape
        if tensor.shape != wanted:
            fits = (tensor.dim() == len(wanted) and tensor.dim() > 1 and tensor.shape[0] == wanted[0]
                    and tensor.shape[2:] == wanted[2:] and (wanted[1] - tensor.shape[1]) % 2 == 0
                    and wanted[1] > tensor.shape[1])
            if not fits:
                raise ValueError(f"{name}: weights of shape {tuple(tensor.shape)} cannot be widened to {tuple(wanted)}.")
            offset = (wanted[1] - tensor.shape[1]) // 2
            grown = torch.zeros(wanted, dtype=tensor.dtype)
            grown[:, offset:offset + tensor.shape[1]] = tensor
            tensor = grown
        widened[name] = tensor
    return widened


def _concatenated_inputs(channels, level):
    """Sizes of the two parts of an up layer's input at `level` of a MONAI UNet: the skip
    connection's features and the deeper path's output, concatenated in that order."""
    deeper = channels[level + 1] if level == len(channels) - 2 else channels[level]
    return channels[level], deeper


def widen_features(state, parent_channels, network, channels):
    """`state` (weights of a network with `parent_channels` features per level) grown to
    `network`, which has `channels` (as many levels, each at least as wide).

    Every parent feature keeps its place and weights. The new features keep `network`'s own
    random initialisation, but their weights into the parent's features start at zero: the wider
    network first predicts exactly as the parent did, and then learns to use the new features.
    """
    import torch

    if len(parent_channels) != len(channels) or any(c < p for p, c in zip(parent_channels, channels)):
        raise ValueError(f"features per level {list(parent_channels)} cannot be widened to {list(channels)}: "
                         "the same number of levels, each at least as wide, is needed.")
    modules = dict(network.named_modules())
    target = network.state_dict()
    widened = {}
    for name, tensor in state.items():
        if target[name].shape == tensor.shape:
            widened[name] = tensor
            continue
        grown = target[name].clone()
        module_name, kind = name.rsplit(".", 1)
        module = modules[module_name]
        transposed = isinstance(module, torch.nn.ConvTranspose2d)
        out_dim, in_dim = (1, 0) if transposed else (0, 1)
        parent_out = torch.arange(tensor.shape[0 if kind == "bias" else out_dim])
        if kind == "bias":
            grown[parent_out] = tensor
            widened[name] = grown
            continue
        if transposed:  # up layers take the skip connection and the deeper path, concatenated
            level = module_name.count("submodule")
            parent_skip, parent_deeper = _concatenated_inputs(parent_channels, level)
            skip, _ = _concatenated_inputs(channels, level)
            parent_in = torch.cat([torch.arange(parent_skip), skip + torch.arange(parent_deeper)])
        else:
            parent_in = torch.arange(tensor.shape[in_dim])
        new_in = torch.ones(grown.shape[in_dim], dtype=torch.bool)
        new_in[parent_in] = False
        new_in = torch.nonzero(new_in)[:, 0]
        rows, cols = (parent_in, parent_out) if transposed else (parent_out, parent_in)
        grown[rows[:, None], cols[None, :]] = tensor
        rows, cols = (new_in, parent_out) if transposed else (parent_out, new_in)
        grown[rows[:, None], cols[None, :]] = 0.0
        widened[name] = grown
    return widened
