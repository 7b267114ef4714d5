# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Compare the image_mirror engine with plain skopeo loops and skopeo sync.

Run from the repository root:

    .venv/bin/python benchmarks/mirror/bench_mirror.py [--images 24] [--parallel 4]

It starts one source registry and one fresh destination registry per
method on 127.0.0.1, pushes generated multi-arch images (linux/amd64 and
linux/arm64, two 1 MiB layers per platform), and times each method twice:
cold (destination empty) and warm (everything present). Each method gets its
own destination registry so that no method profits from blobs another one
uploaded. The engine runs in-process; Ansible's module start-up is measured
separately with an empty image list. Output is ``name: value`` lines.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, ROOT)

import conftest  # noqa: E402,F401  (makes ansible_collections.pko.airgap importable)
from localenv.images import isolated_skopeo_env, make_and_push_image  # noqa: E402
from localenv.registry import start_registry  # noqa: E402

from ansible_collections.pko.airgap.plugins.module_utils.mirror import (  # noqa: E402
    Mirror,
    MirrorSettings,
    plan_items,
)
from ansible_collections.pko.airgap.plugins.module_utils.prefix_overrides import (  # noqa: E402
    PrefixMatcher,
)
from ansible_collections.pko.airgap.plugins.module_utils.skopeo import (  # noqa: E402
    RegistryOptions,
    Skopeo,
)

MIB = 1024 * 1024


def timed(function):
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


def run(argv, env=None):
    completed = subprocess.run(
        argv, capture_output=True, text=True, env=env, check=False
    )
    if completed.returncode != 0:
        raise SystemExit("command failed: %s\n%s" % (" ".join(argv), completed.stderr))
    return completed


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
    matcher = PrefixMatcher(
        "%s/bench/=%s/engine/" % (source.address, destination.address)
    )
    skopeo = Skopeo(
        source=RegistryOptions(tls_verify=False),
        destination=RegistryOptions(tls_verify=False),
    )
    mirror = Mirror(skopeo, MirrorSettings(parallel=parallel), matcher)
    return mirror.run(plan_items(references, matcher))


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
    for _ in range(repeats):
        seconds, _ = timed(lambda: run(argv, env))
        samples.append(seconds)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--startup-repeats", type=int, default=3)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="pko-airgap-bench-")
    os.environ.update(isolated_skopeo_env(os.path.join(work, "skopeo-state")))
    registries = []
    try:
        source = start_registry(work, "source")
        registries.append(source)
        targets = {}
        for name in ("engine", "loop", "sync"):
            targets[name] = start_registry(work, "dest-" + name)
            registries.append(targets[name])

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
        with open(yaml_path, "w", encoding="utf-8") as handle:
            handle.write("%s:\n  tls-verify: false\n  images:\n" % source.address)
            for reference in references:
                repository = reference.split("/", 1)[1].rsplit(":", 1)[0]
                handle.write('    %s: ["v1"]\n' % repository)

        skopeo_start, _ = timed(lambda: run(["skopeo", "--version"]))
        cold_engine, cold_result = timed(
            lambda: engine_run(references, source, targets["engine"], args.parallel)
        )
        cold_loop, _ = timed(lambda: copy_loop(references, source, targets["loop"]))
        cold_sync, _ = timed(lambda: sync(yaml_path, targets["sync"]))
        warm_engine, warm_result = timed(
            lambda: engine_run(references, source, targets["engine"], args.parallel)
        )
        warm_loop, _ = timed(lambda: copy_loop(references, source, targets["loop"]))
        warm_sync, _ = timed(lambda: sync(yaml_path, targets["sync"]))
        startup = module_startup(args.startup_repeats)
    finally:
        for registry in registries:
            registry.stop()
        shutil.rmtree(work, ignore_errors=True)

    lines = [
        ("images", args.images),
        ("parallel", args.parallel),
        ("cold_engine_copied", cold_result.count("copied")),
        ("cold_engine_seconds", "%.2f" % cold_engine),
        ("cold_loop_seconds", "%.2f" % cold_loop),
        ("cold_sync_seconds", "%.2f" % cold_sync),
        ("cold_ratio_engine_vs_loop", "%.2f" % (cold_engine / cold_loop)),
        ("cold_ratio_engine_vs_sync", "%.2f" % (cold_engine / cold_sync)),
        ("warm_engine_changed", str(warm_result.changed).lower()),
        ("warm_engine_seconds", "%.2f" % warm_engine),
        ("warm_loop_seconds", "%.2f" % warm_loop),
        ("warm_sync_seconds", "%.2f" % warm_sync),
        ("warm_ratio_engine_vs_loop", "%.2f" % (warm_engine / warm_loop)),
        ("warm_ratio_engine_vs_sync", "%.2f" % (warm_engine / warm_sync)),
        ("skopeo_start_seconds", "%.3f" % skopeo_start),
        ("ansible_module_startup_seconds", "%.2f" % startup),
    ]
    for name, value in lines:
        print("%s: %s" % (name, value))


if __name__ == "__main__":
    main()
