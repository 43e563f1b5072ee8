"""Fine-tuning from a parent model: its settings and weights, grown to more neighbouring slices
or more features per level."""

from dataclasses import replace

from LGECore.errors import InputError

from .network import NetworkSettings


def starting_point(config):
    """(config with the parent's network settings, parent weights, lineage) for fine-tuning, or
    (config, None, None) when training from scratch."""
    if not config.init_weights:
        return config, None, None
    from LGECore.models import load_state_dict

    from .segmenter import find_entry

    entry = find_entry(None if config.init_weights == "shipped" else config.init_weights)
    state = load_state_dict(entry["path"], entry.get("sha256"))
    # The architecture is the parent's; the preset's patch size and normalisation are kept for
    # training, and more neighbouring slices or features may be asked for (the parent's weights
    # are grown to fit, see grow_parent).
    parent_settings = NetworkSettings.from_dict(entry["settings"])
    channels = parent_settings.channels
    if len(config.network.channels) == len(channels):
        channels = tuple(max(p, c) for p, c in zip(channels, config.network.channels))
    settings = replace(parent_settings, patch_size=config.network.patch_size,
                       window_normalisation=config.network.window_normalisation, channels=channels,
                       context_slices=max(parent_settings.context_slices, config.network.context_slices))
    parent = entry.get("training", {})
    lineage = {"name": entry.get("name", ""), "sha256": entry.get("sha256", ""),
               "seconds": parent.get("seconds"), "epochs": parent.get("config", {}).get("epochs"),
               "channels": list(parent_settings.channels), "fine_tuned_from": parent.get("fine_tuned_from")}
    return replace(config, network=settings), grow_parent(state, parent_settings, settings, config.seed), lineage


def check_channels_hold_parent(init_weights, channels):
    """Refuse features per level asked for with a parent that they cannot hold: another number of
    levels, or fewer features than the parent's at some level (its weights would not fit)."""
    from .segmenter import find_entry

    parent = tuple(find_entry(None if init_weights == "shipped" else init_weights)["settings"]["channels"])
    if len(channels) != len(parent) or any(c < p for c, p in zip(channels, parent)):
        raise InputError(
            f"--channels {' '.join(map(str, channels))} cannot hold the weights of {init_weights}, which has "
            f"{len(parent)} levels of {' '.join(map(str, parent))} features: give {len(parent)} numbers, "
            f"each at least the parent's.")


def grow_parent(state, parent_settings, settings, seed):
    """The parent's weights fitted to a network built from `settings`, which may take more
    neighbouring slices (widen_input) and have more features per level (widen_features); the new
    weights are drawn with `seed`, so every training process starts from the same network."""
    import torch

    from .network import build_network, widen_features, widen_input

    torch.manual_seed(seed)
    state = widen_input(state, build_network(replace(parent_settings, context_slices=settings.context_slices)))
    if tuple(settings.channels) != tuple(parent_settings.channels):
        state = widen_features(state, parent_settings.channels, build_network(settings), settings.channels)
    return state
