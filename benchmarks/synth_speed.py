"""`benchmarks/synth.py speed`: time per painted slice and network evaluations of synthesize_volume
next to RePaint (benchmarks/repaint.py, CLAIM's 1,480-evaluation schedule) on the same generator
network and the same crops, in the same run; evaluations are counted with a forward hook."""

import time

import numpy as np

import repaint
from ScarSynthLib.scar_masks import make_scar_labels, random_scar_config


class NetworkCalls:
    """Forward hook on the generator: (batch size, timestep) of every network evaluation."""

    def __init__(self, model):
        self.calls = []
        self.hook = model.register_forward_hook(self._record, with_kwargs=True)

    def _record(self, module, args, kwargs, output):
        sample = args[0] if args else kwargs["sample"]
        timestep = args[1] if len(args) > 1 else kwargs["timestep"]
        self.calls.append((int(sample.shape[0]), int(timestep.reshape(-1)[0])))

    def take(self):
        """The calls recorded since the last take."""
        calls, self.calls = self.calls, []
        return calls


def crop_evaluations(calls):
    """Network evaluations summed over the crops of each batch."""
    return sum(batch for batch, _ in calls)


def ddim_slices(calls):
    """Slices painted by DDIM runs: a run starts where the timestep stops falling, and its batch
    size is its number of slices. Slices a "scar" generator skips never reach the network."""
    slices, previous = 0, None
    for batch, timestep in calls:
        if previous is None or timestep >= previous:
            slices += batch
        previous = timestep
    return slices


def painted_crops(image, labels, weights):
    """The SliceCrops synthesize_volume paints on this volume: same paint region and conditioning."""
    from ScarSynthLib import diffusion
    from ScarSynthLib.diffusion_data import lv_extent

    source, label_array = image.array.astype(np.float32), np.asarray(labels.array)
    extent, kind = lv_extent(label_array), diffusion.paint_region_kind(weights)
    crops = (diffusion.slice_crop(source[z], label_array[z], extent, kind) for z in range(len(source)))
    return [crop for crop in crops if crop is not None]


def time_ours(args, normal, calls):
    """synthesize_volume on --cases volumes with random scars: (slices painted, crop evaluations,
    seconds, the crops it painted, seconds to draw each volume's scar mask)."""
    from ScarSynthLib import diffusion

    mask_seconds, seconds, crops = [], 0.0, []
    for i in range(args.cases):
        image, labels = normal[i % len(normal)].load()
        start = time.perf_counter()
        labels, _ = make_scar_labels(labels, **random_scar_config(args.seed * 1_000_003 + i))
        mask_seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        diffusion.synthesize_volume(image, labels, num_inference_steps=args.steps,
                                    weights=args.weights, device=args.device, progress=False)
        seconds += time.perf_counter() - start
        crops += painted_crops(image, labels, args.weights)
    made = calls.take()
    slices = ddim_slices(made)
    if slices != len(crops):
        print(f"  warning: {slices} slices counted from the network calls, {len(crops)} crops to paint")
    return slices, crop_evaluations(made), seconds, crops, mask_seconds


def time_repaint(args, model, crops, calls):
    """(slices, crop evaluations, seconds) of RePaint on the first --repaint-slices crops."""
    crops = crops[:args.repaint_slices]
    if not crops:
        return 0, 0, 0.0
    scheduler = repaint.make_scheduler()
    start = time.perf_counter()
    repaint.sample_repaint(model, crops, args.seed, scheduler)
    seconds = time.perf_counter() - start
    return len(crops), crop_evaluations(calls.take()), seconds


def one_evaluation_seconds(model):
    """One generator evaluation on a batch of one, the floor a sampling step costs."""
    import torch

    parameter = next(model.parameters())
    size = model.config.sample_size
    x = torch.zeros(1, model.config.in_channels, size, size, device=parameter.device)
    timestep = torch.tensor([10], device=parameter.device)
    with torch.no_grad():
        model(x, timestep)  # warm-up
        start = time.perf_counter()
        model(x, timestep)
        return time.perf_counter() - start


def print_table(rows):
    """rows: (sampler, slices, crop evaluations, seconds). Times per slice, milliseconds per crop
    evaluation (batched as sampled) and time per slice relative to the first row."""
    print(f"  {'sampler':<44} {'slices':>6} {'evals/slice':>11} {'s/slice':>8} {'ms/eval':>8} {'x ours':>7}")
    ours = rows[0][3] / max(rows[0][1], 1)
    for name, slices, evaluations, seconds in rows:
        if slices:
            per_slice = seconds / slices
            print(f"  {name:<44} {slices:>6} {evaluations / slices:>11.1f} {per_slice:>8.2f} "
                  f"{1000 * seconds / max(evaluations, 1):>8.1f} {per_slice / ours:>7.1f}")


def run_speed(args, normal):
    import torch

    from ScarSynthLib import diffusion
    from ScarSynthLib.diffusion_model import parameter_count

    model = diffusion.load_generator(args.weights, args.device)  # the cached one synthesize_volume uses
    calls = NetworkCalls(model)
    slices, evaluations, seconds, crops, mask_seconds = time_ours(args, normal, calls)
    strength = diffusion.sampling_settings(args.weights)[0]
    rows = [(f"ours: DDIM, {args.steps} steps, strength {strength}", slices, evaluations, seconds),
            (f"RePaint (CLAIM): {repaint.STEPS} steps, jump {repaint.JUMP_LENGTH} x {repaint.JUMP_N_SAMPLE}",
             *time_repaint(args, model, crops, calls))]
    calls.hook.remove()
    print(f"speed on {args.device or 'default device'}, threads {torch.get_num_threads()}, one generator "
          f"({parameter_count(model) / 1e6:.2f} M parameters, paint region "
          f"{diffusion.paint_region_kind(args.weights)}), {args.cases} volumes")
    print_table(rows)
    print(f"  one generator evaluation (batch 1): {1000 * one_evaluation_seconds(model):.0f} ms; scar mask: "
          f"{1000 * np.median(mask_seconds):.0f} ms per volume")
