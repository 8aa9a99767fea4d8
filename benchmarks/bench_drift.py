"""Registration and local displacement fields: operando.drift against its peers on the simulator's frames.

Peers, measured in the same run on the same arrays, 2 threads, warm-up excluded, the reference prepared once
for every method that can (ours: a cached Reference; scikit-image: the reference's FFT, space="fourier"):
- scikit-image ``phase_cross_correlation`` (upsample_factor 100), with its default normalisation ("phase")
  and with ``normalization=None``;
- pystackreg TRANSLATION (the TurboReg/StackReg engine behind Fiji's MultiStackReg, what the lab used).
Frames: the SEM simulator's SE2 image formation at known shifts (ground truth), white noise added at the
SNR of the case (signal = std of the clean frame), seeds 20_000 and up: disjoint from every seed used for
tuning (the tests use seeds below 1000; tuning runs of this generator used seed bases 200 and 300, so seeds
below 7000, and an earlier base of 10_000).
Local fields: ours (subsets on a 16 px grid) against scikit-image ``optical_flow_ilk``, on 1024 x 768 frames
whose electrode blocks moved by the simulator's known displacement field.

Run: ``pip install pystackreg`` then ``python benchmarks/bench_drift.py`` (``--trials 30``, ``--quick``
for 5 trials on 1024 x 768 only). Prints one table per frame size, a confidence table, a local-field table
and a one-line verdict against the issue's targets.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "2"  # two cores, fixed, before numpy loads

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.fft  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from skimage.registration import optical_flow_ilk, phase_cross_correlation  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the simulator frame maker lives in tests/
from operando.drift import Reference, displacement_field  # noqa: E402
from tests.drift.frames import (  # noqa: E402
    CENTRE,
    add_noise,
    contamination,
    curtains,
    fade,
    gradient,
    render,
)

try:
    from pystackreg import StackReg  # noqa: E402
except ImportError:  # pragma: no cover - the benchmark says so and runs without it
    StackReg = None

SEED = 20_000
GROSS = 1.0  # px
TARGETS = {3.0: 0.02, 1.0: 0.04, 0.5: 0.10}  # RMS px at 2048 x 1536
LATENCY = 0.050  # s median at 2048 x 1536
console = Console(width=160)


def pair(size, k, shift, **kwargs):
    rng = np.random.default_rng([SEED, k])
    centre = (CENTRE[0] + rng.uniform(-6e-6, 6e-6), CENTRE[1] + rng.uniform(-5e-6, 5e-6))
    return (render(centre, size, seed=SEED + 2 * k, **kwargs),
            render(centre, size, shift=shift, seed=SEED + 2 * k + 1, **kwargs))


def random_shift(k, scale):
    rng = np.random.default_rng([SEED, k, 1])
    return tuple(rng.uniform(-scale, scale, 2))


def cases(size, trials):
    """(name, [(reference, frame, true shift)]) one case at a time (2048 x 1536 float32 frames add up), the
    same arrays for every method."""
    width, height = size
    base = [pair(size, k, random_shift(k, 20.0)) + (random_shift(k, 20.0),) for k in range(trials)]
    rng = np.random.default_rng([SEED, width])
    for snr in (9.0, 3.0, 1.0, 0.5):
        yield f"SNR {snr:g}", [(add_noise(a, snr, rng), add_noise(b, snr, rng), s) for a, b, s in base]
    yield "SNR 1, SE fade 45 % + gradient", [
        (add_noise(a, 1, rng), add_noise(gradient(fade(b, 0.45), 0.3), 1, rng), s) for a, b, s in base]
    yield "SNR 1, curtains changed", [
        (add_noise(curtains(a, 0.2, k), 1, rng), add_noise(curtains(b, 0.2, k + 99), 1, rng), s)
        for k, (a, b, s) in enumerate(base)]
    yield "SNR 1, contamination patches", [
        (add_noise(a, 1, rng), add_noise(contamination(b, 3, k), 1, rng), s)
        for k, (a, b, s) in enumerate(base)]
    del base
    jumps = []
    for k in range(trials):
        s = (50.0 * np.sign(random_shift(k, 1)[0]) + random_shift(k, 0.5)[0], -50.0 + random_shift(k, 0.5)[1])
        a, b = pair(size, 1000 + k, s)
        jumps.append((add_noise(a, 1, rng), add_noise(b, 1, rng), s))
    yield "SNR 1, 50 px jump", jumps
    quarters = []
    for k in range(trials):
        s = (height / 4 * np.sign(random_shift(k, 1)[0]) + random_shift(k, 0.5)[0],
             width / 4 * np.sign(random_shift(k, 1)[1]) + random_shift(k, 0.5)[1])
        a, b = pair(size, 2000 + k, s)
        quarters.append((add_noise(a, 1, rng), add_noise(b, 1, rng), s))
    yield "SNR 1, quarter-field jump", quarters
    del jumps, quarters
    beyond = []  # a 60 um slip on an 87 um field: the cyclic correlation's peak sits at the alias
    for k in range(trials):
        s = (random_shift(4000 + k, 20.0)[0], 0.65 * width * np.sign(random_shift(k, 1)[1]) + random_shift(k, 0.5)[1])
        a, b = pair(size, 5000 + k, s)
        beyond.append((add_noise(a, 3, rng), add_noise(b, 3, rng), s))
    yield "SNR 3, jump of 65 % of the field", beyond
    del beyond
    sheared = []
    for k in range(trials):
        s = random_shift(3000 + k, 10.0)
        a, b = pair(size, 3000 + k, s, drift_per_row=(1.0 / height, -1.5 / height))
        sheared.append((add_noise(a, 3, rng), add_noise(b, 3, rng), s))
    yield "SNR 3, drift during the scan (1.8 px)", sheared


def ours_timed(reference):
    prepared = Reference(reference)

    def run(frame):
        result = prepared.register(frame)
        return result.shift, result.confidence
    return run


def skimage_method(normalization):
    def prepare(reference):
        spectrum = scipy.fft.fft2(reference, workers=2)

        def run(frame):
            shift, _, _ = phase_cross_correlation(spectrum, scipy.fft.fft2(frame, workers=2), space="fourier",
                                                  upsample_factor=100, normalization=normalization)
            return tuple(-np.asarray(shift)), None  # skimage: the shift that registers frame onto reference
        return run
    return prepare


def stackreg(reference):
    engine = StackReg(StackReg.TRANSLATION)

    def run(frame):
        matrix = engine.register(reference, frame)
        return (float(matrix[1, 2]), float(matrix[0, 2])), None
    return run


METHODS: dict[str, Callable] = {"operando.drift": ours_timed,
                                "skimage phase": skimage_method("phase"),
                                "skimage none": skimage_method(None)}
if StackReg is not None:
    METHODS["pystackreg"] = stackreg


def measure(method, items):
    errors, times, confidences = [], [], []
    method(items[0][0])(items[0][1])  # warm-up (plans, caches), not counted
    for reference, frame, truth in items:
        run = method(reference)
        started = time.perf_counter()
        shift, confidence = run(frame)
        times.append(time.perf_counter() - started)
        errors.append(float(np.hypot(*(np.asarray(shift) - np.asarray(truth)))))
        confidences.append(confidence)
    errors = np.array(errors)
    good = errors[errors <= GROSS]
    return {"rms": float(np.sqrt(np.mean(good**2))) if good.size else np.nan,
            "p95": float(np.percentile(errors, 95)), "gross": int((errors > GROSS).sum()),
            "median_time": statistics.median(times), "p99_time": float(np.percentile(times, 99)),
            "errors": errors, "confidences": confidences}


def registration_table(size, trials):
    table = Table(title=f"Registration, {size[0]} x {size[1]} px, {trials} trials per case "
                        "(RMS of non-gross errors, px; times ms)")
    for column in ("case", "method", "RMS", "p95", "gross > 1 px", "median ms", "p99 ms",
                   "RMS ratio (peer/ours)", "time ratio (peer/ours)"):
        table.add_column(column, justify="left" if column in ("case", "method") else "right")
    summary = {}
    for name, items in cases(size, trials):
        results = {method: measure(factory, items) for method, factory in METHODS.items()}
        summary[name] = results
        del items
        mine = results["operando.drift"]
        for method, r in results.items():
            ratio_rms = "" if method == "operando.drift" else f"{r['rms'] / mine['rms']:.1f}x"
            speed = r["median_time"] / mine["median_time"]
            ratio_time = "" if method == "operando.drift" else f"{speed:.1f}x"
            table.add_row(name if method == "operando.drift" else "", method, f"{r['rms']:.4f}",
                          f"{r['p95']:.3f}", str(r["gross"]), f"{r['median_time'] * 1e3:.1f}",
                          f"{r['p99_time'] * 1e3:.1f}", ratio_rms, ratio_time)
    console.print(table)
    return summary


def confidence_table(size, trials, summary):
    """False accepts on unrelated, noise and blank frames; flagged share of gross failures at very low SNR."""
    rng = np.random.default_rng([SEED, 7])
    false_accepts, total = 0, 0
    for k in range(trials):
        reference = add_noise(render(CENTRE, size, seed=SEED + 5000 + k), 1, rng)
        prepared = Reference(reference)
        # Unrelated: another specimen (at 2048 px the field is 87 um wide: most of this one is in view).
        far = render(CENTRE, size, seed=SEED + 6000 + k, specimen=SEED + k)
        for frame in (add_noise(far, 1, rng), rng.normal(0.4, 0.1, reference.shape),
                      np.full(reference.shape, 0.3) + rng.normal(0, 1e-3, reference.shape)):
            total += 1
            false_accepts += prepared.register(frame).confidence >= 0.5
    # Gross failures, where they happen: very low SNR on small frames; plus any from the cases above.
    flagged = gross = 0
    for k in range(trials):
        a, b = pair((512, 384), 4000 + k, random_shift(k, 20.0))
        for snr in (0.1, 0.15, 0.2):
            result = Reference(add_noise(a, snr, rng)).register(add_noise(b, snr, rng))
            if np.hypot(*(np.asarray(result.shift) - random_shift(k, 20.0))) > GROSS:
                gross += 1
                flagged += result.confidence < 0.5
    for results in summary.values():
        mine = results["operando.drift"]
        for error, confidence in zip(mine["errors"], mine["confidences"], strict=True):
            if error > GROSS:
                gross += 1
                flagged += confidence < 0.5
    table = Table(title=f"Confidence (threshold 0.5), {size[0]} x {size[1]} px")
    for column in ("check", "count", "result", "target"):
        table.add_column(column)
    table.add_row("false accepts: unrelated, pure-noise and blank frames", str(total),
                  f"{100 * false_accepts / total:.1f} %", "<= 1 %")
    table.add_row("gross failures flagged (SNR 0.1-0.2 on 512 x 384, and any above)", str(gross),
                  f"{100 * flagged / max(gross, 1):.1f} %", ">= 95 %")
    console.print(table)
    return false_accepts / total, flagged / max(gross, 1)


def smooth_field(k: int, shape: tuple[int, int]) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A known displacement field (px): four blocks moving in different directions, blended smoothly."""
    rng = np.random.default_rng([SEED, 9, k])
    height, width = shape
    centres = rng.uniform((0, 0), (height, width), (4, 2))
    vectors = rng.uniform(-3.0, 3.0, (4, 2))

    def field(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        weights = np.exp(-((y[..., None] - centres[:, 0]) ** 2 + (x[..., None] - centres[:, 1]) ** 2)
                         / (2 * 180.0**2))
        weights /= weights.sum(axis=-1, keepdims=True)
        return np.stack([weights @ vectors[:, 0], weights @ vectors[:, 1]])
    return field


def local_field_table(trials):
    """The simulator's frame, warped by a known smooth field (cubic interpolation), noise added after."""
    from scipy import ndimage

    size = (1024, 768)
    table = Table(title="Local displacement field, 1024 x 768 px, 16 px grid, known smooth field of +-3 px "
                        "(RMS px over measured cells; coverage = share of cells measured)")
    for column in ("SNR", "method", "RMS", "p95", "coverage", "median s"):
        table.add_column(column, justify="right")
    rows = (np.arange(size[1] // 16) + 0.5) * 16 - 0.5
    columns = (np.arange(size[0] // 16) + 0.5) * 16 - 0.5
    cell_y, cell_x = np.meshgrid(rows, columns, indexing="ij")
    verdict = {}
    for snr in (9.0, 3.0):
        rng = np.random.default_rng([SEED, 8, int(snr)])
        results = {"operando.drift": ([], [], []), "skimage optical_flow_ilk": ([], [], [])}
        for k in range(trials):
            centre = (CENTRE[0] - 8e-6 + (k % 5) * 3e-6, CENTRE[1] + (k % 3 - 1) * 4e-6)
            clean = render(centre, size, seed=SEED + 7000 + k)
            field = smooth_field(k, clean.shape)
            yy, xx = np.mgrid[0:size[1], 0:size[0]].astype(float)
            moved = field(yy, xx)
            warped = ndimage.map_coordinates(clean, [yy - moved[0], xx - moved[1]], order=3, mode="reflect")
            # Material at p in the first frame is at p + d in the second, with d = field(p + d).
            truth = np.zeros((2, *cell_y.shape))
            for _ in range(8):
                truth = field(cell_y + truth[0], cell_x + truth[1])
            first, second = add_noise(clean, snr, rng), add_noise(warped, snr, rng)
            started = time.perf_counter()
            measured = displacement_field(first, second, grid=16, subset=48).field
            _collect(results["operando.drift"], measured, truth, time.perf_counter() - started)
            started = time.perf_counter()
            flow = optical_flow_ilk(first.astype(np.float32), second.astype(np.float32), radius=16)
            elapsed = time.perf_counter() - started
            iy, ix = np.rint(cell_y).astype(int), np.rint(cell_x).astype(int)
            # ILK gives the flow at the reference pixel: where that pixel's content went.
            _collect(results["skimage optical_flow_ilk"], np.stack([flow[0][iy, ix], flow[1][iy, ix]]), truth,
                     elapsed)
        for method, (errors, coverage, times) in results.items():
            errors = np.concatenate(errors)
            rms = float(np.sqrt(np.mean(errors**2)))
            verdict[(snr, method)] = (rms, statistics.median(times))
            table.add_row(f"{snr:g}", method, f"{rms:.3f}", f"{np.percentile(errors, 95):.3f}",
                          f"{100 * np.mean(coverage):.0f} %", f"{statistics.median(times):.2f}")
    console.print(table)
    return verdict


def _collect(store, field, truth, elapsed):
    errors, coverage, times = store
    error = np.hypot(*(field - truth))
    errors.append(error[np.isfinite(error)])
    coverage.append(float(np.isfinite(error).mean()))
    times.append(elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="5 trials, 1024 x 768 only")
    args = parser.parse_args()
    trials = 5 if args.quick else args.trials
    if StackReg is None:
        console.print("pystackreg is not installed (pip install pystackreg): its rows are left out")
    sizes = [(1024, 768)] if args.quick else [(2048, 1536), (1024, 768)]
    verdicts = []
    for size in sizes:
        summary = registration_table(size, trials)
        false_accept, flagged = confidence_table(size, trials, summary)
        if size == (2048, 1536):
            mine = {name: r["operando.drift"] for name, r in summary.items()}
            accuracy = all(mine[f"SNR {snr:g}"]["rms"] <= target for snr, target in TARGETS.items())
            gross = sum(r["gross"] for name, r in mine.items() if "0.5" not in name)
            latency = statistics.median(r["median_time"] for r in mine.values())
            peers = [p for p in ("skimage phase", "skimage none") if p in next(iter(summary.values()))]
            faster = min(summary[name][p]["median_time"] / mine[name]["median_time"]
                         for name in summary for p in peers)
            # A peer with every trial a gross failure has no RMS: ours is better there if it has one.
            as_accurate = all(mine[name]["rms"] <= summary[name][p]["rms"] or (
                np.isnan(summary[name][p]["rms"]) and not np.isnan(mine[name]["rms"]))
                for name in summary for p in peers)
            met = "met" if latency <= LATENCY else "MISSED"
            verdicts.append(f"2048 x 1536: accuracy {'met' if accuracy else 'MISSED'}, gross failures at "
                            f"SNR >= 1 {gross}, median {latency * 1e3:.0f} ms ({met} <= 50 ms), "
                            f">= {faster:.1f}x faster than skimage in every case "
                            f"({'met' if faster >= 3 else 'MISSED'} >= 3x), "
                            f"{'as accurate or better' if as_accurate else 'LESS accurate'} in every case")
        verdicts.append(f"{size[0]} x {size[1]}: false accepts {100 * false_accept:.1f} % (target <= 1 %), "
                        f"gross failures flagged {100 * flagged:.0f} % (target >= 95 %)")
    local = local_field_table(max(3, trials // 6))
    ours9, ours3 = local[(9.0, "operando.drift")], local[(3.0, "operando.drift")]
    verdicts.append(f"local fields: RMS {ours9[0]:.3f} px at SNR 9 (target 0.10), {ours3[0]:.3f} px at SNR 3 "
                    f"(target 0.15), {max(ours9[1], ours3[1]):.2f} s (target 1 s)")
    console.print("Verdict: " + "; ".join(verdicts))


if __name__ == "__main__":
    main()
