"""The real-vs-synthetic scar patch classifier of benchmarks/synth_realism.py, its measure (c): a tiny
CNN trained to tell patches of real scar from patches of painted scar, scored by patch AUROC."""

import numpy as np

from ScarSegmentLib.weak_pooling import auroc

PATCH = 11  # pixels on a side, centred on a scar pixel
CLASSIFIER_STEPS, CLASSIFIER_BATCH = 300, 64


def heart(key):
    """The case a synthetic scar was painted in: its key is the case name, or NAME+J for its J-th extra scar."""
    return key.split("+")[0]


def _patch_set(real, synthetic, names):
    parts = ([(real[n], 0.0) for n in names if n in real]
             + [(patches, 1.0) for key, patches in synthetic.items() if heart(key) in names])
    if not parts:  # --cases no more than the held-out ones: nothing to train the classifier on
        return np.zeros((0, PATCH, PATCH), np.float32), np.zeros(0, np.float32)
    x = np.concatenate([p for p, _ in parts])
    y = np.concatenate([np.full(len(p), label, np.float32) for p, label in parts])
    return x, y


def classifier_auroc(real, synthetic, train, tests, seed):
    """(c): a tiny CNN trained on the patches of the `train` cases; AUROC per {set: case names}."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3), nn.ReLU(),
                        nn.Flatten(), nn.Linear(16 * 2 * 2, 1))
    x, y = (torch.from_numpy(a) for a in _patch_set(real, synthetic, train))
    if not (y == 0).any() or not (y == 1).any():  # too few cases (--cases) to train on both kinds
        return {name: dict(auroc=float("nan")) for name in tests}
    # Standardised input: the contrasts that matter are a few % of the remote mean.
    centre, spread = float(x.mean()), float(x.std()) + 1e-6
    x = (x - centre) / spread
    # Both classes weigh alike whatever their patch counts.
    loss = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(float((y == 0).sum() / max((y == 1).sum(), 1))))
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(CLASSIFIER_STEPS):
        index = torch.from_numpy(rng.integers(0, len(x), CLASSIFIER_BATCH))
        # Random turns and flips: where the scar lies in the image is no clue to its realism.
        batch = torch.rot90(x[index][:, None], int(rng.integers(4)), dims=(2, 3))
        if rng.random() < 0.5:
            batch = torch.flip(batch, dims=(3,))
        optimiser.zero_grad()
        loss(net(batch)[:, 0], y[index]).backward()
        optimiser.step()
    result = {}
    with torch.no_grad():
        for name, names in tests.items():
            tx, ty = _patch_set(real, synthetic, names)
            scores = net((torch.from_numpy(tx)[:, None] - centre) / spread)[:, 0].numpy()
            result[name] = dict(auroc=auroc(scores, ty),
                                real_patches=int((ty == 0).sum()), synthetic_patches=int((ty == 1).sum()))
    return result
