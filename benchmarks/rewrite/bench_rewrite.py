# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Time the manifest rewrite against PyYAML's C loader and dumper.

Generates a bundle of Deployments, CronJobs and custom resources with pod
templates, then measures, in one process and side by side:

- ``rewrite_manifest`` on the bundle (compose, walk, splice, re-parse and
  compare);
- ``yaml.load_all`` with ``CSafeLoader`` followed by ``yaml.dump_all`` with
  ``CSafeDumper``, which is what a rewrite that reformats the file would
  cost at least.

Each side runs ``--repeat`` times, interleaved, and the best CPU time
counts. The script also times composing alone with and without the pause of
Python's garbage collector that the rewrite uses. Peak memory is measured in
a separate pass with tracemalloc, because tracing slows both sides down. Run from the repository root:

    .venv/bin/python benchmarks/rewrite/bench_rewrite.py
"""

import argparse
import os
import platform
import sys
import time
import tracemalloc

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
# Imported for its side effect: it makes ansible_collections.pko.airgap importable.
import conftest  # noqa: E402,F401 pylint: disable=unused-import

from ansible_collections.pko.airgap.plugins.module_utils.manifest_rewrite import (  # noqa: E402
    rewrite_manifest,
)
from ansible_collections.pko.airgap.plugins.module_utils.manifest_yaml import (  # noqa: E402
    paused_garbage_collection,
)

OVERRIDES = "quay.io/package-operator/=mirror.example.com:5000/pko/,docker.io/=mirror.example.com:5000/hub/"

DEPLOYMENT = """\
# Deployment {index}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{index}
  namespace: team-{team}
  labels:
    app.kubernetes.io/name: app-{index}
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: app-{index}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app-{index}
    spec:
      initContainers:
      - name: migrate
        image: "quay.io/package-operator/migrate:v{index}"
        args: ["--database=postgres://db:5432/app"]
      containers:
      - name: app
        image: quay.io/package-operator/app-{index}:v1.0.{index}
        args:
        - --listen=:8080
        - --sidecar-image=docker.io/library/busybox:1.36
        env:
        - name: PKO_IMAGE_PREFIX_OVERRIDES
          value: ""
        - name: LOG_LEVEL
          value: info
        ports:
        - containerPort: 8080
        resources:
          limits: {{cpu: 200m, memory: 256Mi}}
"""

CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: report-{index}
  namespace: team-{team}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: report
            image: 'docker.io/library/python:3.12'   # pinned by policy
            command: ["python", "-m", "report", "--id={index}"]
"""

CUSTOM_RESOURCE = """\
apiVersion: example.com/v1
kind: Worker
metadata:
  name: worker-{index}
spec:
  queue: jobs-{index}
  pod:
    template:
      spec:
        containers:
        - {{name: worker, image: quay.io/package-operator/worker:v2, args: [--queue=jobs-{index}]}}
"""

TEMPLATES = (DEPLOYMENT, CRONJOB, CUSTOM_RESOURCE)


def generate_bundle(documents: int) -> str:
    """Return ``documents`` YAML documents, cycling through the three kinds."""
    parts = []
    for index in range(documents):
        template = TEMPLATES[index % len(TEMPLATES)]
        parts.append(template.format(index=index, team=index % 17))
    return "---\n".join(parts)


def run_rewrite(text: str) -> int:
    return len(rewrite_manifest(text, OVERRIDES, source="bundle.yaml").rewrites)


def run_load_dump(text: str) -> int:
    data = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
    dumped = yaml.dump_all(data, Dumper=yaml.CSafeDumper, sort_keys=False)
    return len(dumped)


def best_seconds(functions: dict, text: str, repeat: int) -> dict:
    """Return each function's best CPU time in seconds, running them interleaved.

    CPU time of this process, not wall time, so that other load on a shared
    machine changes the figures less. Interleaving spreads any remaining
    drift over both sides.
    """
    best = {name: float("inf") for name in functions}
    for repetition in range(repeat):
        for name, function in functions.items():
            started = time.process_time()
            function(text)
            best[name] = min(best[name], time.process_time() - started)
    return best


def compose_with_collector(text: str) -> None:
    list(yaml.compose_all(text, Loader=yaml.CSafeLoader))


def compose_paused_collector(text: str) -> None:
    with paused_garbage_collection():
        list(yaml.compose_all(text, Loader=yaml.CSafeLoader))


def peak_bytes(function, text: str) -> int:
    tracemalloc.start()
    try:
        function(text)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-ratio", type=float, default=2.0)
    options = parser.parse_args()

    text = generate_bundle(options.documents)
    rewrites = run_rewrite(text)
    times = best_seconds(
        {
            "rewrite": run_rewrite,
            "load_dump": run_load_dump,
            "compose_gc": compose_with_collector,
            "compose_paused_gc": compose_paused_collector,
        },
        text,
        options.repeat,
    )
    rewrite_time = times["rewrite"]
    baseline_time = times["load_dump"]
    rewrite_peak = peak_bytes(run_rewrite, text)
    baseline_peak = peak_bytes(run_load_dump, text)
    ratio = rewrite_time / baseline_time

    print("python: %s" % platform.python_version())
    print("libyaml: %s" % yaml.__with_libyaml__)
    print("documents: %d" % options.documents)
    print("bundle_mib: %.1f" % (len(text.encode("utf-8")) / 2**20))
    print("rewrites: %d" % rewrites)
    print("rewrite_seconds: %.3f" % rewrite_time)
    print("pyyaml_c_load_dump_seconds: %.3f" % baseline_time)
    print("rewrite_vs_load_dump_ratio: %.2f" % ratio)
    print("compose_seconds: %.3f" % times["compose_paused_gc"])
    print("compose_with_gc_seconds: %.3f" % times["compose_gc"])
    print(
        "compose_gc_slowdown_ratio: %.2f"
        % (times["compose_gc"] / times["compose_paused_gc"])
    )
    print("rewrite_peak_mib: %.1f" % (rewrite_peak / 2**20))
    print("pyyaml_c_load_dump_peak_mib: %.1f" % (baseline_peak / 2**20))
    if ratio > options.max_ratio:
        print("result: FAIL (ratio above %.1f)" % options.max_ratio)
        return 1
    print("result: ok (ratio at most %.1f)" % options.max_ratio)
    return 0


if __name__ == "__main__":
    sys.exit(main())
