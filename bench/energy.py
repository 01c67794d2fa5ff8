"""Energy over many windows on scripted step profiles: our integral and the official mean against truth.

    ./task bench energy [--windows 400] [--seconds 600] [--seed 1]

The simulated WT310E meter (power.simulators.meter) measures a Scripted truth whose steps fall
inside update intervals; its Updates become Samples. Windows start and end at random instants
(like LoadGen's power_begin/power_end, never on sample boundaries). For each window we compare
with the truth's exact energy: power.energy.measure_window (partial intervals weighted) and the
official MLPerf formula (plain mean of samples stamped strictly inside, x duration). Prints one
JSON line per profile, update interval, meter noise and window-length bucket. Target: our
integral within 0.1 % of truth. Figures only; a human reads them.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
from typing import Any, Dict, List, Sequence, Tuple

from power.energy import measure_window, official_from_samples
from power.sample import Sample, Status
from power.simulators.meter import ManualClock, Meter
from power.simulators.truth import Scripted

S = 1_000_000_000
START_NS = 1_700_000_000 * S
BUCKETS_S = ((2.0, 10.0), (10.0, 60.0), (60.0, 600.0))


def emit(record: Dict[str, Any]) -> None:
    """One JSON line on stdout."""
    print(json.dumps(record), flush=True)


def profile_steps(name: str, seconds: float, rng: random.Random) -> List[Tuple[float, float]]:
    """(offset_s, power_w) steps of a named profile; every step lands at a random instant."""
    steps: List[Tuple[float, float]] = [(0.0, 6.0)]
    t = 0.0
    while t < seconds + 5:
        if name == "steps":  # levels 5-30 W held 0.3-3 s
            t += rng.uniform(0.3, 3.0)
            steps.append((t, rng.uniform(5.0, 30.0)))
        elif name == "bursts":  # SingleStream-like: ~6 W idle, 15-16 W bursts of 0.05-0.4 s
            t += rng.uniform(0.05, 0.6)
            steps.append((t, rng.uniform(14.5, 16.0)))
            t += rng.uniform(0.05, 0.4)
            steps.append((t, rng.uniform(6.0, 6.6)))
        else:  # "phases": long phases (idle / load / throttled) with small ripples inside
            t += rng.uniform(5.0, 40.0)
            base = rng.choice((6.3, 14.8, 22.6))
            steps.append((t, base))
            for _ in range(rng.randint(0, 5)):
                t += rng.uniform(0.2, 2.0)
                steps.append((t, base * rng.uniform(0.97, 1.03)))
    return steps


def measure(profile: str, interval_s: float, noise: bool, seconds: float,
            seed: int) -> Tuple[Scripted, List[Sample]]:
    """Run the simulated meter over a profile and return the truth and the Samples it produced."""
    rng = random.Random(seed)  # noqa: S311 - reproducible simulation noise, not cryptography
    truth = Scripted.power_steps(START_NS, profile_steps(profile, seconds, rng))
    clock = ManualClock(START_NS)
    meter = Meter("WT310E", truth, clock, update_s=interval_s, seed=seed, noise=noise)
    meter.set_voltage_range(300.0)
    meter.set_current_range(0.5)
    clock.advance(round(seconds * S))
    samples = []
    for u in meter.advance():
        status = Status.NO_DATA if u.no_data else (
            Status.OVERRANGE if u.overrange_p else Status.OK)
        samples.append(Sample(u.t_end_ns, u.interval_ns, u.power_w, u.voltage_v, u.current_a,
                              u.power_factor, u.voltage_range_v, u.current_range_a, status))
    return truth, samples


def stats(errors: Sequence[float]) -> Dict[str, float]:
    """Median, 95th percentile and maximum of absolute relative errors, in percent."""
    ordered = sorted(abs(e) * 100 for e in errors)
    p95 = ordered[min(len(ordered) - 1, int(math.ceil(0.95 * len(ordered))) - 1)]
    return {"median_pct": round(statistics.median(ordered), 5), "p95_pct": round(p95, 5),
            "max_pct": round(ordered[-1], 5)}


def run(profile: str, interval_s: float, noise: bool, seconds: float, windows: int,
        seed: int) -> None:
    """Emit one line per window-length bucket for one configuration."""
    truth, samples = measure(profile, interval_s, noise, seconds, seed)
    first_ns = samples[1].t_start_ns  # skip the first update (range change -> no data)
    last_ns = samples[-1].t_end_ns
    rng = random.Random(seed + 1000)  # noqa: S311 - reproducible simulation noise, not cryptography
    for low_s, high_s in BUCKETS_S:
        ours: List[float] = []
        official: List[float] = []
        for _ in range(windows):
            length_ns = round(rng.uniform(low_s, min(high_s, (last_ns - first_ns) / S - 1)) * S)
            t0 = rng.randrange(first_ns, last_ns - length_ns)
            t1 = t0 + length_ns
            true_j = truth.energy_j(t0, t1)
            ours.append(measure_window(samples, t0, t1).energy_j / true_j - 1)
            official.append(official_from_samples(samples, t0, t1).energy_j / true_j - 1)
        emit({
            "bench": "energy", "profile": profile, "interval_s": interval_s, "noise": noise,
            "window_s": [low_s, high_s], "windows": windows,
            "ours": stats(ours), "official": stats(official),
            "ours_within_0.1pct": round(sum(abs(e) <= 0.001 for e in ours) / len(ours), 4),
            "official_within_0.1pct": round(sum(abs(e) <= 0.001 for e in official) / len(official),
                                            4),
        })


def main() -> None:
    """Parse arguments and run every configuration."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=400, help="windows per bucket")
    parser.add_argument("--seconds", type=float, default=600.0, help="length of each recording")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for profile in ("steps", "bursts", "phases"):
        for interval_s in (1.0, 0.1):
            for noise in (False, True):
                run(profile, interval_s, noise, args.seconds, args.windows, args.seed)


if __name__ == "__main__":
    main()
