# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Generate OCI image layouts without a container engine, and push them.

An image is an OCI image index with one manifest per platform (linux/amd64
and linux/arm64 by default). Each platform gets a config and gzip tar layers
of random bytes, plus an optional layer of given files shared by all
platforms (for Package Operator package images). With a ``seed`` the bytes,
tar headers and gzip headers are fixed, so the digests repeat from run to
run. Layouts follow the OCI image-layout spec 1.0 and are pushed with
``skopeo copy --all --preserve-digests``, which keeps the index digest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import subprocess
import tarfile
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"

DEFAULT_PLATFORMS: Tuple[Tuple[str, str], ...] = (
    ("linux", "amd64"),
    ("linux", "arm64"),
)
# A fixed timestamp keeps configs and tar headers identical between runs.
CREATED = "2026-01-01T00:00:00Z"
MTIME = 1767225600


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    media_type: str

    def descriptor(self, **extra: object) -> dict:
        descriptor = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        descriptor.update(extra)
        return descriptor


@dataclass
class OciImage:
    """An image written to an OCI layout: its index and per-platform manifests."""

    layout_dir: str
    tag: str
    index: Blob
    manifests: Dict[str, Blob] = field(default_factory=dict)
    layers: Dict[str, List[Blob]] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return self.index.digest

    @property
    def transport_reference(self) -> str:
        return "oci:%s:%s" % (self.layout_dir, self.tag)

    @property
    def total_size(self) -> int:
        """Bytes of the index, manifests, configs and layers (shared blobs once)."""
        blobs = {self.index.digest: self.index.size}
        for platform, manifest in self.manifests.items():
            blobs[manifest.digest] = manifest.size
            for blob in self.layers[platform]:
                blobs[blob.digest] = blob.size
        return sum(blobs.values())


@dataclass(frozen=True)
class PushedImage:
    """An image in a registry: ``reference`` is ``host/repository:tag``."""

    reference: str
    digest: str
    image: OciImage

    @property
    def repository(self) -> str:
        return self.reference.rpartition(":")[0]

    @property
    def pinned(self) -> str:
        return "%s@%s" % (self.repository, self.digest)


class _Layout:
    """Writes content-addressed blobs into an OCI layout directory."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.blob_dir = os.path.join(directory, "blobs", "sha256")
        os.makedirs(self.blob_dir, exist_ok=True)
        with open(
            os.path.join(directory, "oci-layout"), "w", encoding="utf-8"
        ) as handle:
            json.dump({"imageLayoutVersion": "1.0.0"}, handle)

    def write(self, data: bytes, media_type: str) -> Blob:
        digest = hashlib.sha256(data).hexdigest()
        path = os.path.join(self.blob_dir, digest)
        if not os.path.exists(path):
            with open(path, "wb") as handle:
                handle.write(data)
        return Blob("sha256:" + digest, len(data), media_type)

    def write_json(self, document: dict, media_type: str) -> Blob:
        return self.write(_canonical_json(document), media_type)

    def set_tag(self, tag: str, index: Blob) -> None:
        path = os.path.join(self.directory, "index.json")
        entries = []
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                entries = json.load(handle).get("manifests", [])
        entries = [
            entry
            for entry in entries
            if entry.get("annotations", {}).get(REF_NAME_ANNOTATION) != tag
        ]
        entries.append(index.descriptor(annotations={REF_NAME_ANNOTATION: tag}))
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"schemaVersion": 2, "manifests": entries}, handle, indent=2)


def _canonical_json(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _tar_gz(files: Sequence[Tuple[str, bytes]]) -> Tuple[bytes, str]:
    """Return a gzip tar of ``files`` and the sha256 diff ID of the plain tar."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        directories = set()
        for path, data in files:
            parts = path.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                directories.add("/".join(parts[:depth]))
        for directory in sorted(directories):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = MTIME
            archive.addfile(info)
        for path, data in files:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = MTIME
            archive.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    diff_id = "sha256:" + hashlib.sha256(tar_bytes).hexdigest()

    # mtime=0 and no file name keep the gzip header identical between runs.
    compressed = io.BytesIO()
    with gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=1, mtime=0) as gz:
        gz.write(tar_bytes)
    return compressed.getvalue(), diff_id


def write_oci_image(
    layout_dir: str,
    tag: str = "latest",
    layer_sizes: Sequence[int] = (1024,),
    files: Optional[Mapping[str, bytes]] = None,
    platforms: Sequence[Tuple[str, str]] = DEFAULT_PLATFORMS,
    seed: Optional[int] = None,
    labels: Optional[Mapping[str, str]] = None,
) -> OciImage:
    """Write a multi-platform image to the OCI layout ``layout_dir`` under ``tag``.

    Each platform gets one layer of random bytes per entry of
    ``layer_sizes``, which counts the bytes of the file inside the tar. Random
    data hardly compresses, so each blob is a little larger. ``files`` maps paths inside
    the image to contents and becomes one more layer, the same for every
    platform. Without ``seed`` the random bytes come from os.urandom, so every
    call gives new digests.
    """
    layout = _Layout(layout_dir)
    generator = random.Random(seed) if seed is not None else None
    image = OciImage(layout_dir, tag, index=Blob("", 0, INDEX_MEDIA_TYPE))

    shared_layer = None
    if files:
        data, diff_id = _tar_gz(
            sorted((path, bytes(body)) for path, body in files.items())
        )
        shared_layer = (layout.write(data, LAYER_MEDIA_TYPE), diff_id)

    descriptors = []
    for os_name, architecture in platforms:
        platform = "%s/%s" % (os_name, architecture)
        layers = []
        for number, size in enumerate(layer_sizes):
            if generator is not None:
                content = generator.randbytes(size)
            else:
                content = os.urandom(size)
            name = "data/%s-%s-layer%d.bin" % (os_name, architecture, number)
            data, diff_id = _tar_gz([(name, content)])
            layers.append((layout.write(data, LAYER_MEDIA_TYPE), diff_id))
        if shared_layer is not None:
            layers.append(shared_layer)

        config = layout.write_json(
            {
                "created": CREATED,
                "architecture": architecture,
                "os": os_name,
                "config": {"Labels": dict(labels or {})},
                "rootfs": {
                    "type": "layers",
                    "diff_ids": [diff_id for blob, diff_id in layers],
                },
                "history": [{"created": CREATED, "comment": "generated test layer"}]
                * len(layers),
            },
            CONFIG_MEDIA_TYPE,
        )
        manifest = layout.write_json(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST_MEDIA_TYPE,
                "config": config.descriptor(),
                "layers": [blob.descriptor() for blob, diff_id in layers],
            },
            MANIFEST_MEDIA_TYPE,
        )
        image.manifests[platform] = manifest
        image.layers[platform] = [config] + [blob for blob, diff_id in layers]
        descriptors.append(
            manifest.descriptor(platform={"architecture": architecture, "os": os_name})
        )

    image.index = layout.write_json(
        {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": descriptors},
        INDEX_MEDIA_TYPE,
    )
    layout.set_tag(tag, image.index)
    return image


def skopeo_destination_args(
    tls_verify: bool = False,
    cert_dir: Optional[str] = None,
    username: Optional[str] = None,
    password: Optional[str] = None,
) -> List[str]:
    args = []
    if cert_dir:
        args.append("--dest-cert-dir=" + cert_dir)
    elif not tls_verify:
        args.append("--dest-tls-verify=false")
    if username:
        args.append("--dest-creds=%s:%s" % (username, password))
    return args


def push_oci_image(
    image: OciImage,
    reference: str,
    tls_verify: bool = False,
    cert_dir: Optional[str] = None,
    username: Optional[str] = None,
    password: Optional[str] = None,
    skopeo: str = "skopeo",
    env: Optional[Mapping[str, str]] = None,
) -> PushedImage:
    """Push ``image`` to ``reference`` (``host/repository:tag``) with every platform.

    Plain HTTP needs ``tls_verify=False``. A TLS registry with a private CA
    needs ``cert_dir``.
    """
    argv = [skopeo, "copy", "--quiet", "--all", "--preserve-digests"]
    argv += skopeo_destination_args(tls_verify, cert_dir, username, password)
    argv += [image.transport_reference, "docker://" + reference]
    completed = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env=None if env is None else dict(env),
    )
    if completed.returncode != 0:
        stderr = completed.stderr.strip()
        if password:
            stderr = stderr.replace(password, "********")
        raise RuntimeError(
            "pushing %s to %s failed (rc=%d): %s"
            % (image.transport_reference, reference, completed.returncode, stderr)
        )
    return PushedImage(reference, image.digest, image)


def make_and_push_image(
    work_dir: str,
    reference: str,
    layer_sizes: Sequence[int] = (1024,),
    files: Optional[Mapping[str, bytes]] = None,
    seed: Optional[int] = None,
    platforms: Sequence[Tuple[str, str]] = DEFAULT_PLATFORMS,
    labels: Optional[Mapping[str, str]] = None,
    **push_options: object,
) -> PushedImage:
    """Generate an image in a layout under ``work_dir`` and push it to ``reference``."""
    name = (
        reference.split("/", 1)[-1]
        .replace("/", "_")
        .replace(":", "_")
        .replace("@", "_")
    )
    layout_dir = os.path.join(work_dir, "layouts", name)
    tag = reference.rpartition(":")[2] if ":" in reference.split("/")[-1] else "latest"
    image = write_oci_image(
        layout_dir,
        tag=tag,
        layer_sizes=layer_sizes,
        files=files,
        platforms=platforms,
        seed=seed,
        labels=labels,
    )
    return push_oci_image(image, reference, **push_options)  # type: ignore[arg-type]


# NOTE: `_CONTAINERS_ROOTLESS_UID` is an internal variable of containers/image
# (podman sets it after its rootless re-exec). skopeo 1.9.3 reads it to decide
# whether the blob info cache goes to /var/lib/containers/cache (uid 0) or to
# $XDG_DATA_HOME/containers/cache, so it is the only way to keep a root test
# run out of /var/lib/containers. It changes no other path that tests use.
ROOTLESS_UID_VARIABLE = "_CONTAINERS_ROOTLESS_UID"


def isolated_skopeo_env(
    directory: str, base: Optional[Mapping[str, str]] = None
) -> dict:
    """Return an environment that keeps skopeo's blob info cache under ``directory``.

    Also points TMPDIR (skopeo's large temporary files), XDG_RUNTIME_DIR and
    DOCKER_CONFIG (where skopeo looks for default credentials) into
    ``directory``, so that no login of the machine's user leaks into a test.
    """
    env = dict(os.environ if base is None else base)
    data_home = os.path.join(directory, "xdg-data")
    runtime_dir = os.path.join(directory, "xdg-runtime")
    temp_dir = os.path.join(directory, "tmp")
    docker_config = os.path.join(directory, "docker-config")
    for path in (data_home, runtime_dir, temp_dir, docker_config):
        os.makedirs(path, mode=0o700, exist_ok=True)
    env[ROOTLESS_UID_VARIABLE] = str(os.getuid() or 65534)
    env["XDG_DATA_HOME"] = data_home
    env["XDG_RUNTIME_DIR"] = runtime_dir
    env["TMPDIR"] = temp_dir
    env["DOCKER_CONFIG"] = docker_config
    return env
