"""Synthetic short-axis LGE stacks with exact labels, the true AHA map and the true RV insertion
points: the test data of the whole project.

    p = make_phantom(seed=3, territory="LAD", transmurality=0.7, mvo=True)
    p.image, p.labels, p.aha_segments  # Volumes on one grid (ITK conventions, LPS)
    p.truth                            # JSON-serialisable dict of everything known

The heart is built in its own frame (long axis u base->apex, anterior a, septal s; a x s = u) and
sampled on the image grid through the direction matrix; the slice normal is the long axis. The
image is rendered at 3x3 sub-pixels around the heart (partial volume), then a coil bias field
and Rician noise are applied. Everything is drawn from one seed.
"""

from dataclasses import dataclass

import numpy as np

from . import labels as L
from . import phantom_build as build
from . import phantom_intensity as intensity
from .errors import InputError
from .phantom_aha import CAP, MID
from .territories import territory_segments
from .volume import Volume


@dataclass(frozen=True)
class Phantom:
    image: Volume  # float32 LGE magnitude
    labels: Volume  # uint8, 0..5
    aha_segments: Volume  # uint8, 1..17 on LV myocardium, 0 elsewhere
    truth: dict


def scar_segment_list(scar_segments=(), territory=None):
    """The sorted AHA segments that hold scar, from explicit segments or a territory name."""
    segments = () if scar_segments is None else tuple(np.ravel(scar_segments).tolist())
    if territory is not None:
        if segments:
            raise InputError("Give either scar segments or a coronary territory, not both.")
        return territory_segments(territory)
    try:
        numbers = sorted({int(s) for s in segments})
    except (TypeError, ValueError):
        raise InputError(f"Scar segments must be whole numbers 1..17; got {segments!r}.") from None
    bad = [s for s in numbers if not 1 <= s <= 17]
    if bad:
        raise InputError(f"AHA segments run from 1 to 17; got {bad}.")
    return numbers


def _check_parameters(n_slices, pixel_spacing, slice_spacing, matrix_size, transmurality):
    if int(n_slices) != n_slices or not 3 <= n_slices <= 200:
        raise InputError(f"The number of slices must be a whole number from 3 to 200; got {n_slices}.")
    if int(matrix_size) != matrix_size or not 32 <= matrix_size <= 1024:
        raise InputError(f"The matrix size must be a whole number from 32 to 1024; got {matrix_size}.")
    if not (np.isfinite(pixel_spacing) and 0.3 <= pixel_spacing <= 5.0):
        raise InputError(f"The pixel spacing must be 0.3..5 mm; got {pixel_spacing}.")
    if not (np.isfinite(slice_spacing) and 1.0 <= slice_spacing <= 30.0):
        raise InputError(f"The slice spacing must be 1..30 mm; got {slice_spacing}.")
    if not (np.isfinite(transmurality) and 0.0 < transmurality <= 1.0):
        raise InputError(f"The transmurality is a fraction of the wall, in (0, 1]; got {transmurality}.")


def make_phantom(seed=0, n_slices=10, pixel_spacing=1.5, slice_spacing=10.0, matrix_size=160,
                 direction=None, apex_first=True, scar_segments=(), territory=None,
                 transmurality=0.5, mvo=False, with_rv=True, look="emidec"):
    """Build one synthetic LGE stack with its exact labels, true AHA map and truth dict.

    The heart's long axis follows the slice normal of the grid (slice 0 at the apex when
    `apex_first`). `direction=None` draws a plausible oblique short-axis orientation from the
    seed. Scar grows from the subendocardium to `transmurality` (fraction of the wall) inside
    the requested AHA segments (or coronary territory); `mvo` adds a dark core inside it.
    With `with_rv=False` the RV is still imaged but not labelled (like EMIDEC).
    `look="emidec"` matches the grey levels and low contrast of the 8-bit EMIDEC export;
    `look="scanner"` gives LGE contrast as it comes from a scanner (myocardium nulled near 0);
    `look="psir"` the phase-sensitive reconstruction (myocardium below air, stored with an offset).
    """
    if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
        raise InputError(f"The seed must be a whole number of at least 0 (or None); got {seed!r}.")
    segments = _checked_scar(n_slices, pixel_spacing, slice_spacing, matrix_size, transmurality, look,
                             scar_segments, territory, mvo)
    n_slices, matrix_size = int(n_slices), int(matrix_size)
    pixel_spacing, slice_spacing, transmurality = float(pixel_spacing), float(slice_spacing), float(transmurality)
    rng = np.random.default_rng(seed)
    frame = build.place_heart(rng, n_slices, pixel_spacing, slice_spacing, matrix_size, direction, apex_first)
    body_xyz, body_class = build.classify_body(frame)
    heart = build.classify_heart(frame)
    slices = build.slice_geometry(frame, heart, segments, apex_first)
    wall = build.WallLabeller(segments, transmurality, mvo, rng.uniform(0.0, 2 * np.pi, 2),
                              1.3 * pixel_spacing / frame.shape.base_wall)
    segment_fine = build.label_walls(wall, heart, slices.slice_info)
    planes = build.side_planes(frame, heart.box, wall, slices.slice_info)
    labels, aha = build.label_maps(frame.grid, heart, segment_fine, with_rv)
    image, noise_sigma = build.render_image(rng, look, frame, body_xyz, body_class, heart, planes)
    options = dict(n_slices=n_slices, pixel_spacing=pixel_spacing, slice_spacing=slice_spacing,
                   matrix_size=matrix_size, direction=direction, apex_first=apex_first, segments=segments,
                   territory=territory, transmurality=transmurality, mvo=mvo, with_rv=with_rv, look=look)
    truth = _truth(seed, options, frame, slices, labels, aha, noise_sigma)
    grid = frame.grid
    return Phantom(grid.with_array(image), grid.with_array(labels), grid.with_array(aha), truth)


def _checked_scar(n_slices, pixel_spacing, slice_spacing, matrix_size, transmurality, look,
                  scar_segments, territory, mvo):
    """The scarred AHA segments, after refusing options that cannot make a phantom."""
    _check_parameters(n_slices, pixel_spacing, slice_spacing, matrix_size, transmurality)
    if look not in intensity.LOOKS:
        raise InputError(f"Unknown look {look!r}; use one of {', '.join(intensity.LOOKS)}.")
    segments = scar_segment_list(scar_segments, territory)
    if mvo and not segments:
        raise InputError("MVO lies inside scar: give scar segments or a territory with --mvo.")
    if mvo and float(transmurality) < 0.5:
        raise InputError(f"MVO forms in the core of (near-)transmural scar: use a transmurality of "
                         f"at least 0.5 with MVO (got {float(transmurality)}).")
    return segments


def _truth(seed, options, frame, slices, labels, aha, noise_sigma):
    """Everything known about the phantom, as plain JSON types."""
    v = {**options, **vars(slices), "u": frame.u, "a": frame.a, "s": frame.s, "shape": frame.shape,
         "body": frame.body, "spacing": frame.grid.spacing, "origin": frame.grid.origin,
         "grid_direction": frame.grid.direction, "noise_sigma": noise_sigma}
    myo = L.lv_myocardium(labels)
    scar = L.scar(labels)
    percent = {}
    for segment in range(1, 18):
        in_segment = aha == segment
        n = int((in_segment & myo).sum())
        percent[str(segment)] = round(100.0 * int((in_segment & scar).sum()) / n, 3) if n else None
    mid_slices = [k for k, role in enumerate(v["roles"]) if role == MID and v["has_rv"][k]]
    ring_slices = [k for k, role in enumerate(v["roles"]) if role not in (None, CAP) and v["has_rv"][k]]
    candidates = mid_slices or ring_slices
    representative = None
    if candidates:
        k = candidates[len(candidates) // 2]
        representative = {"slice": k, "anterior": v["insertion"]["anterior"][k],
                          "inferior": v["insertion"]["inferior"][k]}

    def vec(x):
        return None if x is None else [float(c) for c in x]

    return {
        "seed": int(seed) if seed is not None else None,
        "parameters": {
            "n_slices": v["n_slices"], "pixel_spacing": v["pixel_spacing"],
            "slice_spacing": v["slice_spacing"], "matrix_size": v["matrix_size"],
            "direction_given": v["direction"] is not None, "apex_first": bool(v["apex_first"]),
            "scar_segments": list(v["segments"]), "territory": v["territory"],
            "transmurality": v["transmurality"], "mvo": bool(v["mvo"]), "with_rv": bool(v["with_rv"]),
            "look": v["look"],
        },
        "spacing": list(v["spacing"]),
        "origin": vec(v["origin"]),
        "direction": v["grid_direction"].tolist(),
        "long_axis_lps": vec(v["u"]),
        "anterior_lps": vec(v["a"]),
        "septal_lps": vec(v["s"]),
        "apex_first": bool(v["apex_first"]),
        "slice_roles": v["roles"],
        "lv_centres_lps": [vec(c) for c in v["centres_lps"]],
        "insertion_points_lps": v["insertion"],
        "insertion_angles_deg": {"anterior": v["shape"].insertion_anterior,
                                 "inferior": v["shape"].insertion_inferior},
        "representative_insertion_points_lps": representative,
        "scar_segments": list(v["segments"]),
        "transmurality": v["transmurality"],
        "scar_percent_by_segment": percent,
        "scar_voxels": int(scar.sum()),  # labels 3 and 4 (MVO counts as scar)
        "mvo_voxels": int((labels == L.MVO).sum()),
        "myocardium_voxels": int(myo.sum()),
        "noise_sigma": v["noise_sigma"],
        "heart": v["shape"].to_dict(),
        "body": v["body"].to_dict(),
    }
