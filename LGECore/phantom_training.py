"""LGE phantoms as extra training data for the segmenter: varied enough that a network trained on
one centre's images also meets scanner contrast, other pixel sizes, fields of view, slice orders
and orientations.

Most phantoms have the contrast of LGE as it comes from a scanner (nulled myocardium, bright
blood and scar), the rest the low-contrast look of the EMIDEC 8-bit export; pixel size, field of
view, slice count and order, orientation, scar territory, transmurality and MVO vary by seed.
"""

import numpy as np

from .phantom import make_phantom


def phantom_settings(rng):
    """make_phantom's options for one training phantom, drawn from `rng`."""
    spacing = float(rng.uniform(1.0, 2.0))
    territory = rng.choice(["none", "LAD", "RCA", "LCX"])
    transmurality = float(rng.uniform(0.3, 1.0))
    return dict(
        n_slices=int(rng.integers(6, 13)), pixel_spacing=spacing, slice_spacing=float(rng.uniform(8, 10)),
        matrix_size=int(np.clip(rng.uniform(200, 380) / spacing, 128, 256)),
        apex_first=bool(rng.random() < 0.5), look="scanner" if rng.random() < 0.7 else "emidec",
        territory=None if territory == "none" else str(territory), transmurality=transmurality,
        mvo=bool(territory != "none" and transmurality >= 0.5 and rng.random() < 0.5))


def training_phantoms(count, seed=0):
    """(name, Phantom) of `count` training phantoms; the same ones for the same seed."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        settings = phantom_settings(rng)
        phantom = make_phantom(seed=seed * 1000 + index, **settings)
        yield f"Case_{'P' if settings['territory'] else 'N'}9{index:03d}", phantom
