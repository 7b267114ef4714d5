# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Mirror container images between registries with skopeo, copying only what differs.

For each image the engine compares the manifest digest on both sides,
copies with ``skopeo copy --all --preserve-digests`` only when the
destination lacks the source's digest, and then checks that the destination
now has exactly that digest. The checks go through an inspector. The
module's inspector reads manifests over the registry HTTP API and runs
skopeo where that cannot reproduce skopeo's result (see
registry_client.ManifestInspector). Transient
errors (connection refused or reset, timeouts, HTTP 5xx and 429) are retried
with exponential backoff; authentication errors, missing images and digest
mismatches are not. Images run in a bounded thread pool, and a failed image
does not stop the others. This module has no Ansible import.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ansible_collections.pko.airgap.plugins.module_utils.image_reference import (
    ImageReference,
    ImageReferenceError,
    parse_image_reference,
)
from ansible_collections.pko.airgap.plugins.module_utils.package_image import (
    LOCK_PATH,
    PackageImageError,
    choose_platform_manifest,
    parse_lock,
    read_layout_files,
)
from ansible_collections.pko.airgap.plugins.module_utils.prefix_overrides import (
    PrefixMatcher,
)
from ansible_collections.pko.airgap.plugins.module_utils.skopeo import (
    DESTINATION,
    NOT_FOUND,
    SOURCE,
    SkopeoError,
    manifest_digest,
)

COPIED = "copied"
SKIPPED = "skipped"
FAILED = "failed"
WOULD_COPY = "would_copy"
ACTIONS = (COPIED, SKIPPED, FAILED, WOULD_COPY)

DIGEST_MISMATCH = "digest_mismatch"
CLOSURE = "closure"

DEFAULT_PARALLEL = 4
DEFAULT_RETRIES = 3
DEFAULT_RETRY_DELAY = 2.0
ITEM_KEYS = ("src", "dest", "package")


class MirrorInputError(ValueError):
    """Invalid mirror input: an image list entry, a reference or a setting."""


class DigestMismatchError(Exception):
    """The destination digest after a copy differs from the source digest checked before it."""

    kind = DIGEST_MISMATCH


@dataclass(frozen=True)
class MirrorItem:
    """One image to mirror: source and destination references as written.

    ``origin`` is "listed" for images from the input and names the package
    for images that a package lock file added. ``package`` is False for an
    image that must not be opened as a package image, True for a dependency
    package, and None for "open it when package closure is on".
    """

    src: str
    dest: str
    origin: str = "listed"
    package: Optional[bool] = None

    @property
    def source(self) -> ImageReference:
        return parse_image_reference(self.src)

    @property
    def destination(self) -> ImageReference:
        return parse_image_reference(self.dest)

    @property
    def source_copy_reference(self) -> str:
        """Return the source skopeo reads: ``name@digest`` when pinned, else as written.

        skopeo 1.9 rejects a docker reference with both a tag and a digest, and
        the digest is the part that must be exact.
        """
        source = self.source
        if source.digest is not None:
            return source.with_digest(source.digest)
        return self.src

    @property
    def destination_copy_reference(self) -> str:
        """Return the destination skopeo writes: ``name:tag`` when tagged, so the tag is kept."""
        destination = self.destination
        if destination.tag is not None:
            return "%s:%s" % (destination.name, destination.tag)
        if destination.digest is not None:
            return destination.with_digest(destination.digest)
        return destination.name

    @property
    def pinned_digest(self) -> Optional[str]:
        return self.source.digest


@dataclass
class ImageResult:
    """The outcome for one image, as the module returns it."""

    src: str
    dest: str
    origin: str
    action: str = FAILED
    digest: Optional[str] = None
    bytes: Optional[int] = None
    seconds: float = 0.0
    attempts: int = 0
    error: Optional[str] = None
    error_kind: Optional[str] = None
    cmd: Optional[List[str]] = None
    rc: Optional[int] = None
    stderr: Optional[str] = None
    dest_pinned: Optional[str] = None

    def as_dict(self, pin_digest: bool = False) -> dict:
        result = {
            "src": self.src,
            "dest": self.dest,
            "origin": self.origin,
            "action": self.action,
            "digest": self.digest,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "attempts": self.attempts,
            "error": self.error,
            "error_kind": self.error_kind,
            "cmd": self.cmd,
            "rc": self.rc,
            "stderr": self.stderr,
        }
        if pin_digest:
            result["dest_pinned"] = self.dest_pinned
        return result


@dataclass
class ClosureError:
    """A package image whose lock file could not be read or resolved."""

    package: str
    error: str
    kind: str = CLOSURE

    def as_dict(self) -> dict:
        return {"package": self.package, "error": self.error, "kind": self.kind}


@dataclass
class MirrorResult:
    """Every image's outcome, in input order, plus errors from package closure."""

    images: List[ImageResult]
    closure_errors: List[ClosureError] = field(default_factory=list)
    check_mode: bool = False
    pin_digest: bool = False
    seconds: float = 0.0

    def count(self, action: str) -> int:
        return sum(1 for image in self.images if image.action == action)

    @property
    def changed(self) -> bool:
        return self.count(COPIED) > 0 or self.count(WOULD_COPY) > 0

    @property
    def failed(self) -> bool:
        return self.count(FAILED) > 0 or bool(self.closure_errors)

    def summary_lines(self) -> List[str]:
        """Return one line per image and a total line, for people reading the result."""
        lines = [format_result_line(image) for image in self.images]
        lines += [
            "closure failed for %s: %s" % (error.package, error.error)
            for error in self.closure_errors
        ]
        totals = ", ".join(
            "%d %s" % (self.count(action), action)
            for action in ACTIONS
            if action != WOULD_COPY or self.check_mode
        )
        lines.append(
            "total: %d images, %s in %.1fs" % (len(self.images), totals, self.seconds)
        )
        return lines

    def failure_message(self) -> Optional[str]:
        """Return a message naming every failed image and why, or None."""
        if not self.failed:
            return None
        failed = [image for image in self.images if image.action == FAILED]
        parts = [
            "%s -> %s: %s" % (image.src, image.dest, image.error) for image in failed
        ]
        parts += [
            "package closure of %s: %s" % (error.package, error.error)
            for error in self.closure_errors
        ]
        done = len(self.images) - len(failed)
        return (
            "image mirror failed for %d of %d images (%d done, %d closure errors): %s"
            % (
                len(failed),
                len(self.images),
                done,
                len(self.closure_errors),
                " | ".join(parts),
            )
        )

    def as_dict(self) -> dict:
        return {
            "changed": self.changed,
            "images": [image.as_dict(self.pin_digest) for image in self.images],
            # Counts go in their own mapping because Ansible reads top-level
            # "skipped" and "failed" keys of a module result as task status.
            "counts": {action: self.count(action) for action in ACTIONS},
            "closure_errors": [error.as_dict() for error in self.closure_errors],
            "summary_lines": self.summary_lines(),
            "seconds": round(self.seconds, 3),
        }


def format_result_line(image: ImageResult) -> str:
    """Return ``action digest size time src -> dest`` for one image."""
    digest = (image.digest or "-")[:19]
    size = "-" if image.bytes is None else format_bytes(image.bytes)
    line = "%-10s %-19s %9s %6.1fs  %s -> %s" % (
        image.action,
        digest,
        size,
        image.seconds,
        image.src,
        image.dest,
    )
    if image.error:
        line += "  (%s)" % image.error
    return line


def format_bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return (
                "%.0f %s" % (value, unit) if unit == "B" else "%.1f %s" % (value, unit)
            )
        value /= 1024
    return "%d B" % count


def plan_items(images: object, matcher: PrefixMatcher) -> List[MirrorItem]:
    """Turn the ``images`` input into mirror items, raising MirrorInputError on bad input.

    An entry is a reference string, whose destination is the prefix override
    rewrite of it, or a mapping with ``src``, optional ``dest`` and optional
    ``package``. Entries with the same source and destination are merged.
    """
    if images is None:
        return []
    if not isinstance(images, (list, tuple)):
        raise MirrorInputError(
            "images must be a list of image references or {src, dest} mappings, "
            "got %s" % type(images).__name__
        )

    items: List[MirrorItem] = []
    for index, entry in enumerate(images):
        items.append(_plan_entry(index, entry, matcher))
    return _unique(items)


def _plan_entry(index: int, entry: object, matcher: PrefixMatcher) -> MirrorItem:
    where = "images[%d]" % index
    package = None
    if isinstance(entry, str):
        src, dest = entry, None
    elif isinstance(entry, dict):
        unknown = sorted(str(key) for key in entry if key not in ITEM_KEYS)
        if unknown:
            raise MirrorInputError(
                "%s has unknown keys %s. Use src, dest and package."
                % (where, ", ".join(unknown))
            )
        src, dest, package = entry.get("src"), entry.get("dest"), entry.get("package")
        if not isinstance(src, str):
            raise MirrorInputError(
                "%s %r needs a 'src' image reference string" % (where, entry)
            )
        if dest is not None and not isinstance(dest, str):
            raise MirrorInputError(
                "%s: 'dest' must be an image reference string, got %r" % (where, dest)
            )
        if package is not None and not isinstance(package, bool):
            raise MirrorInputError(
                "%s: 'package' must be true or false, got %r" % (where, package)
            )
    else:
        raise MirrorInputError(
            "%s must be an image reference or a {src, dest} mapping, got %s %r"
            % (where, type(entry).__name__, entry)
        )

    source = _parse(where, "src", src)
    if dest is None:
        dest = destination_for(src, matcher, where)
    destination = _parse(where, "dest", dest)
    _check_pair(where, source, destination)
    return MirrorItem(src, dest, package=package)


def destination_for(src: str, matcher: PrefixMatcher, where: str) -> str:
    """Return the prefix override rewrite of ``src``, or raise when no rule matches."""
    if not matcher:
        raise MirrorInputError(
            "%s %r has no destination because no overrides are set. Set overrides "
            "(for example quay.io/package-operator/=mirror.example.com/pko/) or "
            "write the entry as {src: %s, dest: <mirror reference>}."
            % (where, src, src)
        )
    if matcher.match(src) is None:
        raise MirrorInputError(
            "%s %r matches no override rule (%s). Add an override whose 'from' is a "
            "prefix of it, or write the entry as {src: ..., dest: ...}."
            % (where, src, matcher.env_value)
        )
    return matcher.rewrite(src)


def _parse(where: str, key: str, text: str) -> ImageReference:
    try:
        return parse_image_reference(text)
    except ImageReferenceError as exc:
        raise MirrorInputError("%s %s: %s" % (where, key, exc)) from None


def _check_pair(
    where: str, source: ImageReference, destination: ImageReference
) -> None:
    if source.fully_qualified() == destination.fully_qualified():
        raise MirrorInputError(
            "%s: source and destination are the same image %r. Point dest or the "
            "override at the mirror registry." % (where, str(source))
        )
    if destination.digest is not None and destination.digest != source.digest:
        raise MirrorInputError(
            "%s: dest %r is pinned to a digest that the source %r does not pin. "
            "Give dest a tag, or no tag and no digest."
            % (where, str(destination), str(source))
        )


def _unique(items: Sequence[MirrorItem]) -> List[MirrorItem]:
    seen = set()
    unique = []
    for item in items:
        key = (item.src, item.dest)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


def group_by_destination(items: Sequence[MirrorItem]) -> List[List[MirrorItem]]:
    """Group items that write the same destination reference, in input order.

    A listed ``name:tag`` and a lock file's ``name:tag@digest`` both write the
    destination tag. Two skopeo processes pushing one tag at the same time
    fail, so the items of a group run one after another. The later one then
    finds the digest already there and is skipped when both digests agree.
    """
    groups: dict = {}
    for item in items:
        groups.setdefault(item.destination_copy_reference, []).append(item)
    return list(groups.values())


@dataclass
class MirrorSettings:
    """Tuning and mode of a mirror run; see the image_mirror module options."""

    parallel: int = DEFAULT_PARALLEL
    retries: int = DEFAULT_RETRIES
    retry_delay: float = DEFAULT_RETRY_DELAY
    check_mode: bool = False
    pin_digest: bool = False
    package_closure: bool = False
    recursive: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.parallel, int) or self.parallel < 1:
            raise MirrorInputError(
                "parallel must be a whole number of at least 1, got %r" % self.parallel
            )
        if not isinstance(self.retries, int) or self.retries < 0:
            raise MirrorInputError(
                "retries must be a whole number of 0 or more, got %r" % self.retries
            )
        if self.retry_delay < 0:
            raise MirrorInputError(
                "retry_delay must be 0 or more seconds, got %r" % self.retry_delay
            )


class Mirror:
    """Mirror images with a skopeo runner (see skopeo.Skopeo).

    ``progress`` receives one line per finished image, from worker threads
    one at a time. ``before_copy(item, digest)`` runs after the digest check
    and before the copy, which lets tests change the source in between.
    ``inspector`` reads manifests and digests (``inspect_raw`` and
    ``inspect_digest``, for example a registry_client.ManifestInspector);
    without it the skopeo runner does. ``sleep`` and ``clock`` exist so that
    tests can skip real waiting.
    """

    def __init__(
        self,
        skopeo: object,
        settings: Optional[MirrorSettings] = None,
        matcher: Optional[PrefixMatcher] = None,
        progress: Optional[Callable[[str], None]] = None,
        before_copy: Optional[Callable[[MirrorItem, str], None]] = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        tmpdir: Optional[str] = None,
        inspector: Optional[object] = None,
    ) -> None:
        self.skopeo = skopeo
        self.inspector = skopeo if inspector is None else inspector
        self.settings = settings or MirrorSettings()
        self.matcher = matcher or PrefixMatcher(None)
        self.progress = progress
        self.before_copy = before_copy
        self.sleep = sleep
        self.clock = clock
        self.tmpdir = tmpdir
        self._progress_lock = threading.Lock()
        self._finished = 0
        self._total = 0
        # Source manifests read while opening packages, so that mirroring the
        # package image does not request them again.
        self._source_manifests: Dict[str, bytes] = {}
        self._source_lock = threading.Lock()

    # Running

    def run(self, items: Sequence[MirrorItem]) -> MirrorResult:
        """Mirror ``items`` (after adding package closure images) and return every outcome."""
        started = self.clock()
        closure_errors: List[ClosureError] = []
        self._source_manifests = {}
        if self.settings.package_closure:
            items, closure_errors = self.expand_closure(items)

        self._finished = 0
        self._total = len(items)
        groups = group_by_destination(items)
        workers = max(1, min(self.settings.parallel, len(groups)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            finished = pool.map(self._mirror_group, groups)
            by_item = {}
            for group, group_results in zip(groups, finished):
                by_item.update(zip(map(id, group), group_results))
        results = [by_item[id(item)] for item in items]

        return MirrorResult(
            images=results,
            closure_errors=closure_errors,
            check_mode=self.settings.check_mode,
            pin_digest=self.settings.pin_digest,
            seconds=self.clock() - started,
        )

    def _mirror_group(self, group: Sequence[MirrorItem]) -> List[ImageResult]:
        return [self.mirror_one(item) for item in group]

    def mirror_one(self, item: MirrorItem) -> ImageResult:
        """Check, copy when needed, and verify one image; skopeo errors become a failed result."""
        result = ImageResult(item.src, item.dest, item.origin)
        started = self.clock()
        attempts = [0]
        try:
            self._mirror(item, result, attempts)
        except SkopeoError as exc:
            result.action = FAILED
            result.error = exc.message
            result.error_kind = exc.kind
            result.cmd = exc.cmd or None
            result.rc = exc.rc
            result.stderr = exc.stderr or None
        except DigestMismatchError as exc:
            result.action, result.error, result.error_kind = FAILED, str(exc), exc.kind
        result.attempts = attempts[0]
        result.seconds = self.clock() - started
        if result.action != FAILED and result.digest is not None:
            result.dest_pinned = item.destination.with_digest(result.digest)
        self._report_progress(result)
        return result

    def _mirror(
        self, item: MirrorItem, result: ImageResult, attempts: List[int]
    ) -> None:
        source_raw = None
        expected = item.pinned_digest
        if expected is None:
            with self._source_lock:
                source_raw = self._source_manifests.pop(
                    item.source_copy_reference, None
                )
            if source_raw is None:
                source_raw = self._retry(
                    lambda: self._inspect_source(item.source_copy_reference), attempts
                )
            expected = manifest_digest(source_raw)
        result.digest = expected

        current = self._retry(
            lambda: self.inspector.inspect_digest(
                item.destination_copy_reference, DESTINATION
            ),
            attempts,
        )
        if current == expected:
            result.action, result.bytes = SKIPPED, 0
            return

        if self.settings.check_mode:
            result.action = WOULD_COPY
            result.bytes = self._image_bytes(item, source_raw, attempts)
            return

        if self.before_copy is not None:
            self.before_copy(item, expected)
        self._retry(
            lambda: self.skopeo.copy(
                item.source_copy_reference, item.destination_copy_reference
            ),
            attempts,
        )
        copied = self._retry(
            lambda: self.inspector.inspect_digest(
                item.destination_copy_reference, DESTINATION
            ),
            attempts,
        )
        if copied != expected:
            raise DigestMismatchError(
                "digest mismatch: the source was %s when checked, but the destination "
                "has %s after the copy. The source tag probably moved during the "
                "copy. Re-run to mirror the current image." % (expected, copied)
            )
        result.action = COPIED
        result.bytes = self._image_bytes(item, source_raw, attempts)

    def _inspect_source(self, reference: str) -> bytes:
        raw = self.inspector.inspect_raw(reference, SOURCE)
        if raw is None:
            raise SkopeoError(
                "source image %s was not found (manifest unknown). Check the "
                "reference, the credentials and registries_conf." % reference,
                kind=NOT_FOUND,
            )
        return raw

    def _retry(self, operation: Callable[[], object], attempts: List[int]) -> object:
        """Run ``operation``; retry transient SkopeoErrors with exponential backoff."""
        retry = 0
        while True:
            attempts[0] += 1
            try:
                return operation()
            except SkopeoError as exc:
                if not exc.transient or retry >= self.settings.retries:
                    raise
                delay = self.settings.retry_delay * (2**retry)
                retry += 1
                self._emit(
                    "retry %d/%d in %.1fs after a transient error: %s"
                    % (retry, self.settings.retries, delay, exc.message)
                )
                self.sleep(delay)

    def _image_bytes(
        self, item: MirrorItem, source_raw: Optional[bytes], attempts: List[int]
    ) -> Optional[int]:
        """Return the size that the source manifests declare, or None when unreadable.

        Counts the top manifest, each platform manifest, config and layer.
        """
        try:
            if source_raw is None:
                source_raw = self._retry(
                    lambda: self._inspect_source(item.source_copy_reference), attempts
                )
            return manifest_size(
                source_raw, lambda digest: self._child_manifest(item, digest)
            )
        except (SkopeoError, ValueError, KeyError, TypeError) as exc:
            # The size is informational, so a failure here does not fail the image.
            self._emit("size of %s unknown: %s" % (item.src, exc))
            return None

    def _child_manifest(self, item: MirrorItem, digest: str) -> bytes:
        return self._inspect_source(item.source.with_digest(digest))

    # Package closure

    def expand_closure(
        self, items: Sequence[MirrorItem]
    ) -> Tuple[List[MirrorItem], List[ClosureError]]:
        """Add the images and dependencies that package lock files pin.

        Every listed image not marked ``package: false`` is opened; an image
        without ``package/manifest.lock.yaml`` is a plain image and adds
        nothing. Dependency packages are added, and opened too when
        ``recursive`` is set.
        """
        expanded = list(items)
        errors: List[ClosureError] = []
        queue = [item for item in items if item.package is not False]
        opened = set()
        while queue:
            package = queue.pop(0)
            if package.source_copy_reference in opened:
                continue
            opened.add(package.source_copy_reference)
            try:
                lock = self.read_lock(package)
            except (SkopeoError, PackageImageError) as exc:
                message = getattr(exc, "message", str(exc))
                errors.append(ClosureError(package.src, message))
                continue
            if lock is None:
                continue

            origin = "lock of %s" % package.src
            for locked in lock.images:
                added = self._closure_item(
                    locked.reference, origin, False, errors, package
                )
                if added is not None:
                    expanded.append(added)
            for dependency in lock.dependencies:
                origin = "dependency of %s" % package.src
                added = self._closure_item(
                    dependency.reference, origin, True, errors, package
                )
                if added is None:
                    continue
                expanded.append(added)
                if self.settings.recursive:
                    queue.append(added)
        return _unique(expanded), errors

    def _closure_item(
        self,
        reference: str,
        origin: str,
        package: bool,
        errors: List[ClosureError],
        parent: MirrorItem,
    ) -> Optional[MirrorItem]:
        try:
            dest = destination_for(reference, self.matcher, "image")
            _check_pair(
                "image", parse_image_reference(reference), parse_image_reference(dest)
            )
        except (MirrorInputError, ImageReferenceError) as exc:
            errors.append(ClosureError(parent.src, "%s (%s)" % (exc, origin)))
            return None
        return MirrorItem(reference, dest, origin=origin, package=package)

    def read_lock(self, item: MirrorItem):
        """Pull one platform of ``item`` into a temporary OCI layout and parse its lock file.

        Returns None when the image has no lock file, i.e. is not a package.
        """
        raw = self._retry(lambda: self._inspect_source(item.source_copy_reference), [0])
        with self._source_lock:
            self._source_manifests[item.source_copy_reference] = raw
        platform_digest = choose_platform_manifest(raw) or manifest_digest(raw)
        reference = item.source.with_digest(platform_digest)
        with tempfile.TemporaryDirectory(
            prefix="pko-airgap-package-", dir=self.tmpdir
        ) as tmp:
            layout = os.path.join(tmp, "layout")
            self._retry(lambda: self.skopeo.pull_oci_layout(reference, layout), [0])
            files = read_layout_files(layout, [LOCK_PATH])
        if LOCK_PATH not in files:
            return None
        return parse_lock(files[LOCK_PATH], item.src)

    # Progress

    def _report_progress(self, result: ImageResult) -> None:
        with self._progress_lock:
            self._finished += 1
            line = "[%d/%d] %s" % (
                self._finished,
                self._total,
                format_result_line(result),
            )
            if self.progress is not None:
                self.progress(line)

    def _emit(self, line: str) -> None:
        if self.progress is not None:
            with self._progress_lock:
                self.progress(line)


def manifest_size(raw: bytes, fetch_child: Callable[[str], bytes]) -> int:
    """Return the bytes a manifest or index declares, fetching platform manifests.

    The sum covers ``raw`` itself, and for each platform manifest its own
    size, its config and its layers. A blob shared by platforms counts once.
    """
    document = json.loads(raw)
    blobs: Dict[str, int] = {}
    total = len(raw)
    manifests = [document]
    if isinstance(document.get("manifests"), list):
        manifests = []
        for entry in document["manifests"]:
            child = fetch_child(entry["digest"])
            total += len(child)
            manifests.append(json.loads(child))
    for manifest in manifests:
        config = manifest.get("config")
        if config:
            blobs[config["digest"]] = int(config["size"])
        for layer in manifest.get("layers") or []:
            blobs[layer["digest"]] = int(layer["size"])
    return total + sum(blobs.values())


def write_json_atomic(path: str, document: dict) -> None:
    """Write ``document`` as JSON to ``path`` through a temporary file and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise MirrorInputError(
            "report directory %s does not exist. Create it or choose another report "
            "path." % directory
        )
    handle, temporary = tempfile.mkstemp(
        prefix=".report-", suffix=".json", dir=directory
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(document, stream, indent=2, sort_keys=True)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
