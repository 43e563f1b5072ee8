"""What a training epoch draws: which slices (scar and MVO slices more often), their seeds, and
the augmented, normalised patches around them."""

import math

import numpy as np

from . import data as D


class PatchDataset:
    """Training patches: a slice drawn by weight, a window around its LV, then augmentation."""

    def __init__(self, cases, config, epoch_indices, seed):
        from .augment import training_transforms

        self.cases = cases
        self.config = config
        self.indices = epoch_indices
        self.seed = seed
        self.transforms = training_transforms(config.network.patch_size)
        self.transforms.set_random_state(seed=seed)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, item):
        case_index, z = self.indices[item]
        case = self.cases[case_index]
        rng = np.random.default_rng((self.seed, item))
        patch = self.config.network.patch_size
        if rng.random() < self.config.background_patches:
            centre = rng.uniform(0, case.image.shape[1:])
        else:
            centre = case.centres[z] + rng.uniform(-1, 1, 2) * self.config.jitter * patch
        window = int(math.ceil(patch * 1.5))  # room for rotation and zooming out
        context = self.config.network.context_slices
        first = max(z - context, 0)
        nearby = case.image[first:z + context + 1]
        if self.config.network.window_normalisation and rng.random() < self.config.window_patches:
            nearby = self._normalised_on_window(case, nearby, centre, rng)
        elif case.fov_anchors is not None and rng.random() < self.config.fov_normalisation:
            nearby = D.renormalise(nearby, case.fov_anchors[rng.integers(len(case.fov_anchors))])
        # Renormalised before the zeros beyond the stack are added, so they stay zero as in inference.
        image = D.crop_around(D.neighbour_slices(nearby, z - first, context), centre, window)
        if context and rng.random() < 0.5:
            image = image[::-1].copy()  # stacks run apex to base on some scanners, base to apex on others
        labels = D.crop_around(case.labels[z], centre, window)
        sample = self.transforms({"image": image, "label": labels[None].astype(np.float32)})
        return sample["image"], sample["label"]

    def _normalised_on_window(self, case, nearby, centre, rng):
        """Nearby slices normalised on the patch's window, as inference does; sometimes seen
        through a smaller field of view, blank beyond it."""
        percentiles, patch = self.config.network.percentiles, self.config.network.patch_size
        if rng.random() >= self.config.tight_fov:
            return D.renormalise(nearby, D.window_anchors(case.image, centre, patch, percentiles))
        rows, cols = D.heart_field_of_view(case.labels, rng)
        inside = (centre[0] - rows.start, centre[1] - cols.start)
        anchors = D.window_anchors(case.image[:, rows, cols], inside, patch, percentiles)
        seen = np.zeros_like(nearby)
        seen[:, rows, cols] = D.renormalise(nearby[:, rows, cols], anchors)
        return seen


def slice_index(cases):
    """(case, slice) pairs of every slice of the cases."""
    return [(case_index, z) for case_index, case in enumerate(cases) for z in range(case.image.shape[0])]


def sampling_weights(cases, pairs, config, extra_from=None):
    """Probability of drawing each slice: slices with scar, and more so with MVO, come up more often;
    slices of the extra (training-only) cases, from index `extra_from` on, less often."""
    weights = []
    for case_index, z in pairs:
        labels = cases[case_index].labels[z]
        weight = 1.0
        if (labels == 3).any():
            weight += config.scar_oversampling
        if (labels == 4).any():
            weight += config.mvo_oversampling
        if extra_from is not None and case_index >= extra_from:
            weight *= config.extra_weight
        weights.append(weight)
    weights = np.asarray(weights)
    return weights / weights.sum()


def generation(lineage):
    """How many runs came before a run with this lineage: 0 for one from scratch, 1 for a run that
    fine-tunes a model trained from scratch, and so on."""
    count = 0
    while lineage:
        count, lineage = count + 1, lineage.get("fine_tuned_from")
    return count


def patch_seed(seed, generation_number, epoch, rank):
    """Seed of the patches one process draws in one epoch. It depends on the run's generation, so a
    fine-tuning run sees other slices and augmentations than its parent saw with the same seed."""
    return int(np.random.SeedSequence((seed, generation_number, epoch, rank)).generate_state(1)[0])
