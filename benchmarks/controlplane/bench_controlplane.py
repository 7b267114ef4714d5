# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Measure the local control plane: cached build check, start-up, memory, stop.

Run from the repository root after hack/build-controlplane.sh:

    .venv/bin/python benchmarks/controlplane/bench_controlplane.py [--runs 3]

Prints ``name: value`` lines. Start-up is the time from ``ControlPlane.start()``
to a written kubeconfig after ``/readyz`` returned 200, as a median over the
runs. Memory is the resident set size of etcd plus kube-apiserver, read from
/proc right after start-up and again after the settle time. The fleet figures
start three control planes at once, as the fleet tests do, and compare them
with one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO_ROOT, "tests"))

from localenv.controlplane import BUILD_SCRIPT, ControlPlane  # noqa: E402

MIB = 1024 * 1024


def time_build_check(runs: int) -> float:
    """Return the median time of the build script when the cache is current."""
    durations = []
    for run in range(runs):
        started = time.monotonic()
        subprocess.run([BUILD_SCRIPT], check=True, capture_output=True)
        durations.append(time.monotonic() - started)
    return statistics.median(durations)


def start_one(directory: str, name: str, bin_dir: str) -> ControlPlane:
    return ControlPlane(directory, name=name, bin_dir=bin_dir).start()


def measure_single(directory: str, bin_dir: str, runs: int, settle: float) -> dict:
    startups, stops, rss_ready, rss_settled = [], [], [], []
    for run in range(runs):
        control_plane = start_one(directory, "single-%d" % run, bin_dir)
        try:
            startups.append(control_plane.startup_seconds)
            rss_ready.append(control_plane.rss_bytes())
            time.sleep(settle)
            rss_settled.append(control_plane.rss_bytes())
        finally:
            started = time.monotonic()
            control_plane.stop()
            stops.append(time.monotonic() - started)
    return {
        "startup": statistics.median(startups),
        "startup_min": min(startups),
        "startup_max": max(startups),
        "stop": statistics.median(stops),
        "rss_ready": statistics.median(rss_ready),
        "rss_settled": statistics.median(rss_settled),
    }


def measure_fleet(directory: str, bin_dir: str, count: int) -> dict:
    # The kernel sends the parent-death signal when the forking thread ends,
    # and these threads end right after start-up, so the processes are not
    # tied to their parent. The finally block below stops them.
    control_planes = [
        ControlPlane(
            directory, name="fleet-%d" % number, bin_dir=bin_dir, tie_to_parent=False
        )
        for number in range(count)
    ]
    errors = []

    def start(control_plane: ControlPlane) -> None:
        try:
            control_plane.start()
        except Exception as error:  # noqa: BLE001 - reported after the join
            errors.append(error)

    started = time.monotonic()
    threads = [threading.Thread(target=start, args=(cp,)) for cp in control_planes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    try:
        if errors:
            raise errors[0]
        rss = sum(control_plane.rss_bytes() for control_plane in control_planes)
    finally:
        for control_plane in control_planes:
            control_plane.stop()
    return {"wall": wall, "rss": rss}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument(
        "--runs", type=int, default=3, help="runs per figure (default: 3)"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=10.0,
        help="seconds before the second RSS reading",
    )
    args = parser.parse_args()

    bin_dir = subprocess.run(
        [BUILD_SCRIPT], check=True, capture_output=True, text=True
    ).stdout.strip()
    build_check = time_build_check(args.runs)

    with tempfile.TemporaryDirectory(prefix="bench-controlplane-") as directory:
        single = measure_single(directory, bin_dir, args.runs, args.settle)
        fleet = measure_fleet(directory, bin_dir, 3)

    print("build_check_seconds: %.3f" % build_check)
    print("startup_seconds_median: %.2f" % single["startup"])
    print("startup_seconds_min: %.2f" % single["startup_min"])
    print("startup_seconds_max: %.2f" % single["startup_max"])
    print("stop_seconds_median: %.2f" % single["stop"])
    print("rss_mib_at_ready: %.0f" % (single["rss_ready"] / MIB))
    print("rss_mib_after_settle: %.0f" % (single["rss_settled"] / MIB))
    print("fleet3_startup_wall_seconds: %.2f" % fleet["wall"])
    print("fleet3_vs_one_startup_ratio: %.2f" % (fleet["wall"] / single["startup"]))
    print("fleet3_rss_mib: %.0f" % (fleet["rss"] / MIB))
    return 0


if __name__ == "__main__":
    sys.exit(main())
