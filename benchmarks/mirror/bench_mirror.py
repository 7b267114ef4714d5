# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Compare the image_mirror engine with plain skopeo loops and skopeo sync.

Run from the repository root:

    .venv/bin/python benchmarks/mirror/bench_mirror.py [--images 24] [--parallel 4]
        [--rounds 3] [--sweep 1,2,8]

It starts one source registry on 127.0.0.1 and pushes generated multi-arch
images (linux/amd64 and linux/arm64, two 1 MiB layers per platform). Each
round then times every method twice, cold (destination empty) and warm
(everything present), each method against its own fresh destination
registry so that no method profits from blobs another one uploaded. The
order of the methods rotates from round to round, so that a slow phase of
the machine does not always hit the same method.

The engine runs in-process through the module's own setup
(mirror_task.prepare), so its manifest checks use the registry API client
as the module does. Ansible's module start-up is measured separately with an
empty image list. ``--sweep`` adds cold engine runs with other ``parallel``
values.

Output is ``name: value`` lines. Seconds are medians over the rounds, and a
ratio is the median of the per-round ratios, which ``*_rounds`` lines list.
``*_cpu_seconds`` add up the CPU time of the method's skopeo processes, this
Python process and both registries, which shows how much of the machine a
method needs. ``cold_*_cpu_<part>_seconds`` split the cold figure into those
parts.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, ROOT)

# Imported for its side effect: it makes ansible_collections.pko.airgap importable.
import conftest  # noqa: E402,F401 pylint: disable=unused-import
from localenv.images import isolated_skopeo_env, make_and_push_image  # noqa: E402
from localenv.registry import start_registry  # noqa: E402

from ansible_collections.pko.airgap.plugins.module_utils.mirror_task import (  # noqa: E402
    prepare,
)

MIB = 1024 * 1024
METHODS = ("engine", "loop", "sync")


def run(argv, env=None):
    completed = subprocess.run(
        argv, capture_output=True, text=True, env=env, check=False
    )
    if completed.returncode != 0:
        raise SystemExit("command failed: %s\n%s" % (" ".join(argv), completed.stderr))
    return completed


def process_cpu_seconds(pid):
    """Return user plus system CPU seconds of a running process from /proc."""
    with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(source, destination):
    """Return CPU seconds used so far, per part: this process, children, registries.

    The children are the skopeo processes that a method ran and waited for.
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "python": own.ru_utime + own.ru_stime,
        "skopeo": children.ru_utime + children.ru_stime,
        "source_registry": process_cpu_seconds(source.pid),
        "destination_registry": process_cpu_seconds(destination.pid),
    }


def measure(function, source, destination):
    """Run ``function`` and return wall seconds, CPU seconds per part and its value."""
    before = cpu_seconds(source, destination)
    started = time.perf_counter()
    value = function()
    seconds = time.perf_counter() - started
    after = cpu_seconds(source, destination)
    cpu = {part: after[part] - before[part] for part in before}
    return seconds, cpu, value


def copy_loop(references, source, destination):
    for reference in references:
        target = reference.replace(
            source.address + "/bench/", destination.address + "/loop/"
        )
        run(
            [
                "skopeo", "copy", "--quiet", "--all", "--preserve-digests",
                "--src-tls-verify=false", "--dest-tls-verify=false",
                "docker://" + reference, "docker://" + target,
            ]
        )  # fmt: skip


def sync(yaml_path, destination):
    run(
        [
            "skopeo", "sync", "--all", "--preserve-digests", "--src", "yaml",
            "--dest", "docker", "--dest-tls-verify=false",
            yaml_path, destination.address + "/sync",
        ]
    )  # fmt: skip


def engine_run(references, source, destination, parallel):
    """Mirror through the module's setup and return the result and the check counts."""
    params = {
        "images": references,
        "overrides": "%s/bench/=%s/engine/" % (source.address, destination.address),
        "parallel": parallel,
        "src_tls_verify": False,
        "dest_tls_verify": False,
    }
    mirror, items = prepare(params, False)
    try:
        result = mirror.run(items)
    finally:
        mirror.inspector.close()
    checks = (mirror.inspector.http_checks, mirror.inspector.skopeo_checks)
    return result, checks


def module_startup(repeats):
    """Time ansible ad-hoc runs of image_mirror with no images: start-up cost only."""
    env = dict(
        os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections")
    )
    argv = [
        os.path.join(ROOT, ".venv", "bin", "ansible"), "localhost", "-m",
        "pko.airgap.image_mirror", "-a", '{"images": []}',
    ]  # fmt: skip
    samples = []
    for _repeat in range(repeats):
        started = time.perf_counter()
        run(argv, env)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def write_sync_yaml(path, source, references):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("%s:\n  tls-verify: false\n  images:\n" % source.address)
        for reference in references:
            repository = reference.split("/", 1)[1].rsplit(":", 1)[0]
            handle.write('    %s: ["v1"]\n' % repository)


def run_round(number, work, source, references, yaml_path, parallel, sweep):
    """Time every method cold and warm once and return ``{figure: value}``."""
    figures = {}
    order = METHODS[number % 3 :] + METHODS[: number % 3]
    targets = {
        method: start_registry(work, "dest-%s-%d" % (method, number))
        for method in order
    }
    try:
        for phase in ("cold", "warm"):
            for method in order:
                destination = targets[method]
                if method == "engine":
                    seconds, cpu, (result, checks) = measure(
                        lambda: engine_run(references, source, destination, parallel),
                        source,
                        destination,
                    )
                    figures["%s_engine_copied" % phase] = result.count("copied")
                    figures["%s_engine_changed" % phase] = result.changed
                    figures["%s_engine_http_checks" % phase] = checks[0]
                    figures["%s_engine_skopeo_checks" % phase] = checks[1]
                elif method == "loop":
                    seconds, cpu, _value = measure(
                        lambda: copy_loop(references, source, destination),
                        source,
                        destination,
                    )
                else:
                    seconds, cpu, _value = measure(
                        lambda: sync(yaml_path, destination), source, destination
                    )
                figures["%s_%s_seconds" % (phase, method)] = seconds
                figures["%s_%s_cpu_seconds" % (phase, method)] = sum(cpu.values())
                if phase == "cold":
                    for part, value in cpu.items():
                        figures["cold_%s_cpu_%s_seconds" % (method, part)] = value
    finally:
        for registry in targets.values():
            registry.stop()

    for value in sweep:
        destination = start_registry(work, "dest-sweep-%d-%d" % (value, number))
        try:
            seconds, _cpu, _value = measure(
                lambda: engine_run(references, source, destination, value),
                source,
                destination,
            )
        finally:
            destination.stop()
        figures["cold_engine_seconds_parallel_%d" % value] = seconds
        figures["cold_ratio_engine_vs_loop_parallel_%d" % value] = (
            seconds / figures["cold_loop_seconds"]
        )

    for phase in ("cold", "warm"):
        engine = figures["%s_engine_seconds" % phase]
        figures["%s_ratio_engine_vs_loop" % phase] = (
            engine / figures["%s_loop_seconds" % phase]
        )
        figures["%s_ratio_engine_vs_sync" % phase] = (
            engine / figures["%s_sync_seconds" % phase]
        )
    return figures


def median_lines(rounds, args, startup, skopeo_start, loads):
    """Return ``(name, text)`` pairs: medians of times and ratios over the rounds.

    A flag is true when it was true in any round.
    """
    lines = [
        ("images", args.images),
        ("parallel", args.parallel),
        ("rounds", len(rounds)),
    ]
    for name in rounds[0]:
        values = [figures[name] for figures in rounds]
        if isinstance(values[0], bool):
            lines.append((name, str(any(values)).lower()))
        elif isinstance(values[0], int):
            # Counts should agree between rounds, so differing ones are all shown.
            lines.append((name, "/".join(sorted({"%d" % value for value in values}))))
        else:
            lines.append((name, "%.2f" % statistics.median(values)))
            if "_ratio_" in name and len(values) > 1:
                # Each round's ratio, to show how much the machine's load moved it.
                rounds_text = "/".join("%.2f" % value for value in values)
                lines.append((name + "_rounds", rounds_text))
    lines += [
        ("skopeo_start_seconds", "%.3f" % skopeo_start),
        ("ansible_module_startup_seconds", "%.2f" % startup),
        ("load_average_before", "%.2f" % loads[0]),
        ("load_average_after", "%.2f" % loads[1]),
    ]
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--sweep",
        default="",
        help="comma-separated parallel values for extra cold engine runs",
    )
    parser.add_argument("--startup-repeats", type=int, default=3)
    args = parser.parse_args()
    sweep = [int(value) for value in args.sweep.split(",") if value.strip()]

    work = tempfile.mkdtemp(prefix="pko-airgap-bench-")
    os.environ.update(isolated_skopeo_env(os.path.join(work, "skopeo-state")))
    load_before = os.getloadavg()[0]
    source = None
    try:
        source = start_registry(work, "source")
        references = []
        for number in range(args.images):
            image = make_and_push_image(
                os.path.join(work, "layouts"),
                "%s/bench/image-%02d:v1" % (source.address, number),
                layer_sizes=(MIB, MIB),
                seed=2400 + number,
            )
            references.append(image.reference)
        yaml_path = os.path.join(work, "sync.yaml")
        write_sync_yaml(yaml_path, source, references)

        started = time.perf_counter()
        run(["skopeo", "--version"])
        skopeo_start = time.perf_counter() - started
        rounds = [
            run_round(number, work, source, references, yaml_path, args.parallel, sweep)
            for number in range(args.rounds)
        ]
        startup = module_startup(args.startup_repeats)
    finally:
        if source is not None:
            source.stop()
        shutil.rmtree(work, ignore_errors=True)

    loads = (load_before, os.getloadavg()[0])
    for name, value in median_lines(rounds, args, startup, skopeo_start, loads):
        print("%s: %s" % (name, value))


if __name__ == "__main__":
    main()
