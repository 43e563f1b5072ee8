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
from scipy import ndimage

from . import labels as L
from . import phantom_geometry as g
from . import phantom_intensity as intensity
from .errors import InputError
from .phantom_aha import CAP, MID, segments_for_angles, slice_roles
from .territories import territory_segments
from .volume import Volume

SUBSAMPLES = 3  # sub-pixels per pixel side around the heart (odd: the centre one gives the label)


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


def _default_direction(rng, apex_first):
    """A realistic oblique short-axis grid: anterior up, septum (RV) on the image left."""
    long_axis = g.TYPICAL_LONG_AXIS / np.linalg.norm(g.TYPICAL_LONG_AXIS) + rng.normal(0.0, 0.08, 3)
    u, a, s = g.heart_frame(long_axis)
    roll = np.deg2rad(rng.uniform(-30.0, 30.0))
    columns = np.cos(roll) * -s + np.sin(roll) * -a  # image x: towards the lateral wall
    rows = np.cross(-u, columns)  # image y: towards the inferior wall (x cross y = -u)
    normal = -u if apex_first else u  # slice 0 at the apex when apex_first
    return np.column_stack([columns, rows, normal])


def _projected(grid, z, y, x, point, axis):
    """(P - point) . axis for the grid points P at indices z, y, x (1D), as a [z, y, x] array.

    The map from indices to LPS is affine, so this is separable: cheap even on sub-pixels.
    """
    direction, spacing = grid.direction, grid.spacing
    along = [spacing[i] * float(direction[:, i] @ axis) for i in range(3)]
    start = float((np.asarray(grid.origin) - point) @ axis)
    return (np.float32(start) + (np.asarray(z) * along[2]).astype(np.float32)[:, None, None]
            + (np.asarray(y) * along[1]).astype(np.float32)[None, :, None]
            + (np.asarray(x) * along[0]).astype(np.float32)[None, None, :])


def _slice_positions(n_slices, slice_spacing, endo_length, cap_offset, apex_first):
    """Height t (mm from the base plane towards the apex) of each slice, in array order."""
    t_apex_slice = endo_length + cap_offset
    t = t_apex_slice - slice_spacing * np.arange(n_slices)
    return t if apex_first else t[::-1]


class _WallLabeller:
    """Per slice: the true AHA segment of LV wall samples, and scar / MVO grown into them.

    Scar grows from the subendocardium (wall depth 0) to the local transmurality, which tapers
    towards the side edges of the scarred region and wobbles a little; MVO is its dark core.
    """

    def __init__(self, segments, transmurality, mvo, phase, min_depth):
        self.segments, self.transmurality, self.mvo = segments, transmurality, mvo
        self.phase, self.min_depth = phase, min_depth

    def __call__(self, classes, lam, pa, ps, info):
        """Set scar and MVO classes in place; return the segment numbers (0 off the wall)."""
        c_pa, c_ps = info["centre"]
        theta = np.rad2deg(np.arctan2(ps - c_ps, pa - c_pa)) % 360.0
        segment = segments_for_angles(info["role"], theta, info["anterior"], info["inferior"])
        wall = classes == g.MYO
        segment[~wall] = 0
        if not self.segments:
            return segment
        edge = info["distance"][np.clip(theta.astype(int), 0, 359)]
        theta_axis = np.arctan2(ps, pa)
        wobble = 1.0 + 0.12 * np.sin(2 * theta_axis + self.phase[0]) * np.cos(3 * theta_axis + self.phase[1])
        local = self.transmurality * (0.3 + 0.7 * np.clip(edge / 20.0, 0.0, 1.0)) * wobble
        # At least about a pixel deep: thinner scar would fall apart into specks on the grid.
        local = np.clip(local, self.min_depth, 1.0)
        scar = wall & np.isin(segment, self.segments) & (lam <= local)
        classes[scar] = g.SCAR
        if self.mvo:
            classes[scar & (local >= 0.45) & (lam <= 0.4 * local) & (edge >= 25.0)] = g.MVO
        return segment


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
    _check_parameters(n_slices, pixel_spacing, slice_spacing, matrix_size, transmurality)
    n_slices, matrix_size = int(n_slices), int(matrix_size)
    pixel_spacing, slice_spacing = float(pixel_spacing), float(slice_spacing)
    transmurality = float(transmurality)
    if look not in intensity.LOOKS:
        raise InputError(f"Unknown look {look!r}; use one of {', '.join(intensity.LOOKS)}.")
    segments = scar_segment_list(scar_segments, territory)
    if mvo and not segments:
        raise InputError("MVO lies inside scar: give scar segments or a territory with --mvo.")
    if mvo and transmurality < 0.5:
        raise InputError(f"MVO forms in the core of (near-)transmural scar: use a transmurality of "
                         f"at least 0.5 with MVO (got {transmurality}).")
    rng = np.random.default_rng(seed)

    # Orientation and anatomy.
    grid_direction = (_default_direction(rng, apex_first) if direction is None
                      else g.check_direction(direction))
    normal = grid_direction[:, 2]
    u, a, s = g.heart_frame(-normal if apex_first else normal)
    stack_length = (n_slices - 1) * slice_spacing
    # The LV length fits the stack: slice 0 cuts the apical cap (at cap_fraction of its
    # thickness, about 6.5 mm), the last slice lies just below the base; a short stack of thin
    # slices covers only the apical part of a realistically sized LV.
    cap_fraction = rng.uniform(0.25, 0.6)
    base_margin = rng.uniform(2.0, 6.0)
    endo_length = float(np.clip(stack_length + base_margin - cap_fraction * 6.5, 45.0, 100.0))
    shape = g.draw_heart_shape(rng, endo_length)
    body = g.draw_body_shape(rng)
    t_slices = _slice_positions(n_slices, slice_spacing, shape.endo_length,
                                cap_fraction * shape.apex_wall, apex_first)

    # Grid: the LV axis passes near the image centre; the heart centre is the LPS origin.
    heart_centre = np.zeros(3)
    base_point = heart_centre - 0.45 * shape.endo_length * u
    fov = matrix_size * pixel_spacing
    offset = grid_direction[:, :2] @ rng.uniform(-0.05, 0.05, 2) * fov
    half = (matrix_size - 1) / 2.0 * pixel_spacing
    origin = (base_point + t_slices[0] * u + offset
              - grid_direction[:, 0] * half - grid_direction[:, 1] * half)
    spacing = (pixel_spacing, pixel_spacing, slice_spacing)
    grid = Volume(np.zeros((n_slices, matrix_size, matrix_size), np.uint8), spacing, origin, grid_direction)

    # Body on the plain grid (large smooth shapes; blurred below for partial volume).
    rows = np.arange(matrix_size, dtype=float)
    body_xyz = [_projected(grid, np.arange(n_slices), rows, rows, heart_centre, axis)
                for axis in np.eye(3)]
    body_class = g.body_classes(body, *body_xyz)

    # Heart on sub-pixels inside a box around the LV axis.
    axis_index = grid.lps_to_index(base_point[None])[0]
    reach = (1.25 * (shape.endo_radius + 1.2 * shape.base_wall) + 1.2 * shape.rv_depth + 20.0)
    box = []
    for dim in (1, 2):
        lo = int(np.floor(axis_index[dim] - reach / pixel_spacing))
        hi = int(np.ceil(axis_index[dim] + reach / pixel_spacing))
        box.append((max(lo, 0), min(hi, matrix_size)))
    (y0, y1), (x0, x1) = box
    if y1 <= y0 or x1 <= x0:
        raise InputError("The heart falls outside the image: increase the matrix size or pixel spacing.")
    f = SUBSAMPLES
    sub = (np.arange(f) + 0.5) / f - 0.5
    fine_rows = (np.arange(y0, y1)[:, None] + sub).ravel()
    fine_columns = (np.arange(x0, x1)[:, None] + sub).ravel()
    t, pa, ps = (_projected(grid, np.arange(n_slices), fine_rows, fine_columns, base_point, axis)
                 for axis in (u, a, s))
    r, theta = np.hypot(pa, ps), np.arctan2(ps, pa)
    fine_class, lam = g.heart_classes(shape, t, r, theta)
    centre = fine_class[:, f // 2::f, f // 2::f]  # the centre sub-pixel of each voxel

    # Slice roles and centres from the labelled anatomy, as the AHA rule prescribes.
    is_blood = np.isin(centre, (g.LV_BLOOD, g.PAPILLARY))
    is_myo = centre == g.MYO
    roles = slice_roles(is_myo.any(axis=(1, 2)), is_blood.any(axis=(1, 2)), apex_first)
    has_rv = (centre == g.RV_BLOOD).any(axis=(1, 2))
    centres_lps, insertion, slice_info = [], {"anterior": [], "inferior": []}, []
    for k in range(n_slices):
        if roles[k] is None:
            centres_lps.append(None)
            slice_info.append(None)
            for side in insertion:
                insertion[side].append(None)
            continue
        mask = is_blood[k] if roles[k] != CAP else is_myo[k]
        c_pa = float(pa[k, f // 2::f, f // 2::f][mask].mean())
        c_ps = float(ps[k, f // 2::f, f // 2::f][mask].mean())
        centres_lps.append(base_point + t_slices[k] * u + c_pa * a + c_ps * s)
        info = dict(role=roles[k], centre=(c_pa, c_ps), distance=None)
        for side, angle in (("anterior", shape.insertion_anterior), ("inferior", shape.insertion_inferior)):
            rad = np.deg2rad(angle)
            radius = float(g.surface_radius(shape, 1.0, t_slices[k], rad))
            p_pa, p_ps = radius * np.cos(rad), radius * np.sin(rad)
            info[side] = np.rad2deg(np.arctan2(p_ps - c_ps, p_pa - c_pa)) % 360.0
            point = base_point + t_slices[k] * u + p_pa * a + p_ps * s
            insertion[side].append([float(v) for v in point] if has_rv[k] else None)
        if segments:  # angular distance (degrees) to the side edge of the scarred region
            bins = np.arange(360) + 0.5
            selected = np.isin(segments_for_angles(roles[k], bins, info["anterior"], info["inferior"]), segments)
            info["distance"] = (np.full(360, 360.0) if selected.all() else
                                ndimage.distance_transform_edt(np.tile(selected, 3))[360:720])
        slice_info.append(info)

    wall = _WallLabeller(segments, transmurality, mvo, rng.uniform(0.0, 2 * np.pi, 2),
                         1.3 * pixel_spacing / shape.base_wall)
    segment_fine = np.zeros(fine_class.shape, np.uint8)
    for k, info in enumerate(slice_info):
        if info is not None:
            segment_fine[k] = wall(fine_class[k], lam[k], pa[k], ps[k], info)
    centre = fine_class[:, f // 2::f, f // 2::f]

    # Through-plane partial volume: the slice profile sampled at two more planes (pixel centres).
    thickness = min(slice_spacing, 8.0)
    side_planes = []
    for shift in (-thickness / 3.0, thickness / 3.0):
        z = np.arange(n_slices) + shift / slice_spacing
        rows_, cols_ = np.arange(y0, y1, dtype=float), np.arange(x0, x1, dtype=float)
        st, spa, sps = (_projected(grid, z, rows_, cols_, base_point, axis) for axis in (u, a, s))
        side_class, side_lam = g.heart_classes(shape, st, np.hypot(spa, sps), np.arctan2(sps, spa))
        for k, info in enumerate(slice_info):
            if info is not None:
                wall(side_class[k], side_lam[k], spa[k], sps[k], info)
        side_planes.append(side_class)

    # Labels and the true AHA map on the voxel grid.
    label_of_class = np.zeros(256, np.uint8)
    label_of_class[[g.LV_BLOOD, g.PAPILLARY]] = L.BLOOD_POOL
    label_of_class[g.MYO], label_of_class[g.SCAR], label_of_class[g.MVO] = L.MYOCARDIUM, L.SCAR, L.MVO
    if with_rv:
        label_of_class[g.RV_BLOOD] = L.RV_BLOOD_POOL
    labels = np.zeros(grid.shape, np.uint8)
    labels[:, y0:y1, x0:x1] = label_of_class[centre]
    aha = np.zeros(grid.shape, np.uint8)
    aha[:, y0:y1, x0:x1] = segment_fine[:, f // 2::f, f // 2::f]
    aha[~L.lv_myocardium(labels)] = 0

    # Image: class signals, sub-pixel averaging around the heart, bias, blur and noise.
    table = intensity.class_signal_table(rng, look)
    image = table[body_class] * intensity.smooth_texture(rng, grid.shape, 3.0 / pixel_spacing, 0.04)
    image += intensity.lung_vessels(rng, body_class == g.LUNG, table[g.AORTA] - table[g.LUNG])
    image += intensity.clutter(rng, grid, heart_centre, np.isin(body_class, (g.SOFT, g.LIVER, g.STOMACH)),
                               contrast=0.3 * (table[g.LV_BLOOD] - table[g.LUNG]) + 20.0 * (look == "emidec"))
    image = ndimage.gaussian_filter(image, sigma=(0, 0.5, 0.5))
    body_fine = np.repeat(np.repeat(image[:, y0:y1, x0:x1], f, axis=1), f, axis=2)
    heart_signal = table[np.minimum(fine_class, g.N_CLASSES)]
    heart_signal *= 1.0 + 0.03 * rng.standard_normal(fine_class.shape).astype(np.float32)
    fine_image = np.where(fine_class == 255, body_fine, heart_signal)
    in_plane = fine_image.reshape(n_slices, y1 - y0, f, x1 - x0, f).mean(axis=(2, 4))
    body_box = image[:, y0:y1, x0:x1]
    side_images = [np.where(c == 255, body_box, table[np.minimum(c, g.N_CLASSES)]) for c in side_planes]
    image[:, y0:y1, x0:x1] = 0.5 * in_plane + 0.25 * (side_images[0] + side_images[1])
    image = ndimage.gaussian_filter(image, sigma=(0, 0.5, 0.5))
    image *= intensity.bias_field(rng, np.stack(np.broadcast_arrays(*body_xyz), -1),
                                  strength=0.4 if look == "emidec" else 1.0)
    noise_sigma = intensity.noise_level(rng, look)
    add_noise = intensity.add_psir_noise if look == "psir" else intensity.add_rician_noise
    image = add_noise(rng, image.astype(np.float32), noise_sigma).astype(np.float32)
    if look == "emidec":  # the export was resampled: its noise is smooth, not white
        image = ndimage.gaussian_filter(image, sigma=(0, 0.7, 0.7))

    truth = _truth(seed, locals())
    return Phantom(grid.with_array(image), grid.with_array(labels), grid.with_array(aha), truth)


def _truth(seed, v):
    """Everything known about the phantom, as plain JSON types."""
    labels, aha = v["labels"], v["aha"]
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
