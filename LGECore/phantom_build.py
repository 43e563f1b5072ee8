"""The steps that build a phantom: place the heart on the grid, classify body and heart (the heart
on 3x3 sub-pixels), find each slice's role, centre and RV insertion points, grow scar and MVO
into the wall, and render the image. `LGECore.phantom.make_phantom` runs them in order; every
random draw comes from its one generator, in a fixed order, so a seed gives one phantom.
"""

from types import SimpleNamespace

import numpy as np
from scipy import ndimage

from . import labels as L
from . import phantom_geometry as g
from . import phantom_intensity as intensity
from .errors import InputError
from .phantom_aha import CAP, segments_for_angles, slice_roles
from .volume import Volume

SUBSAMPLES = 3  # sub-pixels per pixel side around the heart (odd: the centre one gives the label)


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


class WallLabeller:
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


def place_heart(rng, n_slices, pixel_spacing, slice_spacing, matrix_size, direction, apex_first):
    """The grid and the heart's frame, shape and body: the LV axis passes near the image centre,
    the heart centre is the LPS origin, and the LV length fits the stack."""
    grid_direction = (_default_direction(rng, apex_first) if direction is None
                      else g.check_direction(direction))
    u, a, s = g.heart_frame(-grid_direction[:, 2] if apex_first else grid_direction[:, 2])
    stack_length = (n_slices - 1) * slice_spacing
    # Slice 0 cuts the apical cap (at cap_fraction of its thickness, about 6.5 mm), the last slice
    # lies just below the base; a short stack of thin slices covers only the apical part of an LV.
    cap_fraction = rng.uniform(0.25, 0.6)
    base_margin = rng.uniform(2.0, 6.0)
    endo_length = float(np.clip(stack_length + base_margin - cap_fraction * 6.5, 45.0, 100.0))
    shape = g.draw_heart_shape(rng, endo_length)
    body = g.draw_body_shape(rng)
    t_slices = _slice_positions(n_slices, slice_spacing, shape.endo_length,
                                cap_fraction * shape.apex_wall, apex_first)
    heart_centre = np.zeros(3)
    base_point = heart_centre - 0.45 * shape.endo_length * u
    offset = grid_direction[:, :2] @ rng.uniform(-0.05, 0.05, 2) * (matrix_size * pixel_spacing)
    half = (matrix_size - 1) / 2.0 * pixel_spacing
    origin = (base_point + t_slices[0] * u + offset
              - grid_direction[:, 0] * half - grid_direction[:, 1] * half)
    spacing = (pixel_spacing, pixel_spacing, slice_spacing)
    grid = Volume(np.zeros((n_slices, matrix_size, matrix_size), np.uint8), spacing, origin, grid_direction)
    return SimpleNamespace(grid=grid, u=u, a=a, s=s, shape=shape, body=body, t_slices=t_slices,
                           heart_centre=heart_centre, base_point=base_point)


def classify_body(frame):
    """Body classes on the plain grid (large smooth shapes; blurred later for partial volume)."""
    grid = frame.grid
    rows = np.arange(grid.shape[1], dtype=float)
    body_xyz = [_projected(grid, np.arange(grid.shape[0]), rows, rows, frame.heart_centre, axis)
                for axis in np.eye(3)]
    return body_xyz, g.body_classes(frame.body, *body_xyz)


def _heart_box(frame):
    """(y0, y1), (x0, x1): the voxels around the LV axis that can hold heart."""
    shape, grid = frame.shape, frame.grid
    axis_index = grid.lps_to_index(frame.base_point[None])[0]
    reach = (1.25 * (shape.endo_radius + 1.2 * shape.base_wall) + 1.2 * shape.rv_depth + 20.0)
    box = []
    for dim in (1, 2):
        lo = int(np.floor(axis_index[dim] - reach / grid.spacing[0]))
        hi = int(np.ceil(axis_index[dim] + reach / grid.spacing[0]))
        box.append((max(lo, 0), min(hi, grid.shape[dim])))
    (y0, y1), (x0, x1) = box
    if y1 <= y0 or x1 <= x0:
        raise InputError("The heart falls outside the image: increase the matrix size or pixel spacing.")
    return box


def classify_heart(frame):
    """Heart classes on sub-pixels inside the box around the LV axis, with wall depth and the
    in-plane coordinates (along a and s) of every sub-pixel."""
    (y0, y1), (x0, x1) = box = _heart_box(frame)
    f = SUBSAMPLES
    sub = (np.arange(f) + 0.5) / f - 0.5
    fine_rows = (np.arange(y0, y1)[:, None] + sub).ravel()
    fine_columns = (np.arange(x0, x1)[:, None] + sub).ravel()
    t, pa, ps = (_projected(frame.grid, np.arange(frame.grid.shape[0]), fine_rows, fine_columns,
                            frame.base_point, axis) for axis in (frame.u, frame.a, frame.s))
    fine_class, lam = g.heart_classes(frame.shape, t, np.hypot(pa, ps), np.arctan2(ps, pa))
    return SimpleNamespace(box=box, fine_class=fine_class, lam=lam, pa=pa, ps=ps)


def centre_samples(array):
    """The centre sub-pixel of each voxel."""
    return array[:, SUBSAMPLES // 2::SUBSAMPLES, SUBSAMPLES // 2::SUBSAMPLES]


def _slice_insertion(frame, k, centre, has_rv):
    """Insertion angles (around the slice's LV centre) and LPS points of one ring slice."""
    angles, points = {}, {}
    c_pa, c_ps = centre
    for side, angle in (("anterior", frame.shape.insertion_anterior), ("inferior", frame.shape.insertion_inferior)):
        rad = np.deg2rad(angle)
        radius = float(g.surface_radius(frame.shape, 1.0, frame.t_slices[k], rad))
        p_pa, p_ps = radius * np.cos(rad), radius * np.sin(rad)
        angles[side] = np.rad2deg(np.arctan2(p_ps - c_ps, p_pa - c_pa)) % 360.0
        point = frame.base_point + frame.t_slices[k] * frame.u + p_pa * frame.a + p_ps * frame.s
        points[side] = [float(v) for v in point] if has_rv else None
    return angles, points


def _scar_edge_distance(role, info, segments):
    """Angular distance (degrees, per 1-degree bin) to the side edge of the scarred region."""
    bins = np.arange(360) + 0.5
    selected = np.isin(segments_for_angles(role, bins, info["anterior"], info["inferior"]), segments)
    return np.full(360, 360.0) if selected.all() else ndimage.distance_transform_edt(np.tile(selected, 3))[360:720]


def slice_geometry(frame, heart, segments, apex_first):
    """Per slice, as the AHA rule prescribes from the labelled anatomy: its role, LV centre (LPS),
    RV insertion points (LPS, None without RV) and what the wall labeller needs (None off the LV)."""
    centre = centre_samples(heart.fine_class)
    is_blood = np.isin(centre, (g.LV_BLOOD, g.PAPILLARY))
    is_myo = centre == g.MYO
    roles = slice_roles(is_myo.any(axis=(1, 2)), is_blood.any(axis=(1, 2)), apex_first)
    has_rv = (centre == g.RV_BLOOD).any(axis=(1, 2))
    centres_lps, insertion, slice_info = [], {"anterior": [], "inferior": []}, []
    for k, role in enumerate(roles):
        if role is None:
            centres_lps.append(None)
            slice_info.append(None)
            for side in insertion:
                insertion[side].append(None)
            continue
        mask = is_blood[k] if role != CAP else is_myo[k]
        c_pa = float(centre_samples(heart.pa)[k][mask].mean())
        c_ps = float(centre_samples(heart.ps)[k][mask].mean())
        centres_lps.append(frame.base_point + frame.t_slices[k] * frame.u + c_pa * frame.a + c_ps * frame.s)
        angles, points = _slice_insertion(frame, k, (c_pa, c_ps), has_rv[k])
        info = dict(role=role, centre=(c_pa, c_ps), distance=None, **angles)
        for side in insertion:
            insertion[side].append(points[side])
        if segments:
            info["distance"] = _scar_edge_distance(role, info, segments)
        slice_info.append(info)
    return SimpleNamespace(roles=roles, has_rv=has_rv, centres_lps=centres_lps, insertion=insertion,
                           slice_info=slice_info)


def label_walls(wall, heart, slice_info):
    """Grow scar and MVO into the sub-pixel classes (in place); the true AHA segment of each."""
    segment_fine = np.zeros(heart.fine_class.shape, np.uint8)
    for k, info in enumerate(slice_info):
        if info is not None:
            segment_fine[k] = wall(heart.fine_class[k], heart.lam[k], heart.pa[k], heart.ps[k], info)
    return segment_fine


def side_planes(frame, box, wall, slice_info):
    """Through-plane partial volume: heart classes at two more planes of each slice's profile."""
    grid = frame.grid
    thickness = min(grid.spacing[2], 8.0)
    (y0, y1), (x0, x1) = box
    planes = []
    for shift in (-thickness / 3.0, thickness / 3.0):
        z = np.arange(grid.shape[0]) + shift / grid.spacing[2]
        rows, columns = np.arange(y0, y1, dtype=float), np.arange(x0, x1, dtype=float)
        st, spa, sps = (_projected(grid, z, rows, columns, frame.base_point, axis)
                        for axis in (frame.u, frame.a, frame.s))
        side_class, side_lam = g.heart_classes(frame.shape, st, np.hypot(spa, sps), np.arctan2(sps, spa))
        for k, info in enumerate(slice_info):
            if info is not None:
                wall(side_class[k], side_lam[k], spa[k], sps[k], info)
        planes.append(side_class)
    return planes


def label_maps(grid, heart, segment_fine, with_rv):
    """Project labels and the true AHA map on the voxel grid (from the centre sub-pixels)."""
    (y0, y1), (x0, x1) = heart.box
    label_of_class = np.zeros(256, np.uint8)
    label_of_class[[g.LV_BLOOD, g.PAPILLARY]] = L.BLOOD_POOL
    label_of_class[g.MYO], label_of_class[g.SCAR], label_of_class[g.MVO] = L.MYOCARDIUM, L.SCAR, L.MVO
    if with_rv:
        label_of_class[g.RV_BLOOD] = L.RV_BLOOD_POOL
    labels = np.zeros(grid.shape, np.uint8)
    labels[:, y0:y1, x0:x1] = label_of_class[centre_samples(heart.fine_class)]
    aha = np.zeros(grid.shape, np.uint8)
    aha[:, y0:y1, x0:x1] = centre_samples(segment_fine)
    aha[~L.lv_myocardium(labels)] = 0
    return labels, aha


def _body_image(rng, look, table, frame, body_class):
    """The body's class signals with texture, lung vessels and clutter, slightly blurred."""
    grid = frame.grid
    image = table[body_class] * intensity.smooth_texture(rng, grid.shape, 3.0 / grid.spacing[0], 0.04)
    image += intensity.lung_vessels(rng, body_class == g.LUNG, table[g.AORTA] - table[g.LUNG])
    image += intensity.clutter(rng, grid, frame.heart_centre, np.isin(body_class, (g.SOFT, g.LIVER, g.STOMACH)),
                               contrast=0.3 * (table[g.LV_BLOOD] - table[g.LUNG]) + 20.0 * (look == "emidec"))
    return ndimage.gaussian_filter(image, sigma=(0, 0.5, 0.5))


def _add_heart(rng, image, table, heart, planes):
    """Average the heart's sub-pixels into the box (in plane) and the side planes (through plane)."""
    (y0, y1), (x0, x1) = heart.box
    f, fine_class = SUBSAMPLES, heart.fine_class
    body_fine = np.repeat(np.repeat(image[:, y0:y1, x0:x1], f, axis=1), f, axis=2)
    heart_signal = table[np.minimum(fine_class, g.N_CLASSES)]
    heart_signal *= 1.0 + 0.03 * rng.standard_normal(fine_class.shape).astype(np.float32)
    fine_image = np.where(fine_class == 255, body_fine, heart_signal)
    in_plane = fine_image.reshape(image.shape[0], y1 - y0, f, x1 - x0, f).mean(axis=(2, 4))
    body_box = image[:, y0:y1, x0:x1]
    side_images = [np.where(c == 255, body_box, table[np.minimum(c, g.N_CLASSES)]) for c in planes]
    image[:, y0:y1, x0:x1] = 0.5 * in_plane + 0.25 * (side_images[0] + side_images[1])
    return image


def render_image(rng, look, frame, body_xyz, body_class, heart, planes):
    """(image, noise sigma): class signals, sub-pixel averaging around the heart, bias, blur, noise."""
    table = intensity.class_signal_table(rng, look)
    image = _add_heart(rng, _body_image(rng, look, table, frame, body_class), table, heart, planes)
    image = ndimage.gaussian_filter(image, sigma=(0, 0.5, 0.5))
    image *= intensity.bias_field(rng, np.stack(np.broadcast_arrays(*body_xyz), -1),
                                  strength=0.4 if look == "emidec" else 1.0)
    noise_sigma = intensity.noise_level(rng, look)
    add_noise = intensity.add_psir_noise if look == "psir" else intensity.add_rician_noise
    image = add_noise(rng, image.astype(np.float32), noise_sigma).astype(np.float32)
    if look == "emidec":  # the export was resampled: its noise is smooth, not white
        image = ndimage.gaussian_filter(image, sigma=(0, 0.7, 0.7))
    return image, noise_sigma
