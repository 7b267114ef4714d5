# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Find the image references in Kubernetes manifests.

A pod spec is found wherever it is, not only in the built-in workload kinds:
any mapping with a ``containers``, ``initContainers`` or
``ephemeralContainers`` list of mappings, one of which has a string
``image``, counts. That covers custom resources' pod templates, objects that
Package Operator's ObjectSets and ObjectDeployments embed in their phases,
and ``kind: List`` items. In the built-in workload kinds the pod spec is also
type-checked, so that a misplaced or misspelt field fails instead of being
skipped.

The scan reads nodes, not constructed data, so that the caller can edit the
text in place (see manifest_yaml).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

from ansible_collections.pko.airgap.plugins.module_utils.image_reference import (
    quote_value,
)
from ansible_collections.pko.airgap.plugins.module_utils.manifest_yaml import (
    DuplicateKeyError,
    ManifestError,
    MappingEntries,
    MappingNode,
    Node,
    Path,
    ScalarNode,
    SequenceNode,
    Stream,
    format_path,
    is_empty_document,
    is_null,
    is_string,
    mapping_entries,
)

CONTAINER_LIST_KEYS = ("containers", "initContainers", "ephemeralContainers")

# Built-in kinds, the API groups they belong to, and where their pod spec is.
POD_SPEC_PATHS: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    "Pod": (("",), ("spec",)),
    "PodTemplate": (("",), ("template", "spec")),
    "ReplicationController": (("",), ("spec", "template", "spec")),
    "Deployment": (("apps",), ("spec", "template", "spec")),
    "ReplicaSet": (("apps",), ("spec", "template", "spec")),
    "StatefulSet": (("apps",), ("spec", "template", "spec")),
    "DaemonSet": (("apps",), ("spec", "template", "spec")),
    "Job": (("batch",), ("spec", "template", "spec")),
    "CronJob": (("batch",), ("spec", "jobTemplate", "spec", "template", "spec")),
}

PACKAGE_KINDS = ("Package", "ClusterPackage")
PACKAGE_API_GROUP = "package-operator.run"

# An image value with one of these characters is a pattern or a template
# placeholder (``eu.example.io/*``, ``{{ .Values.image }}``, ``$(IMAGE)``),
# not a reference, and is left alone.
PATTERN_CHARACTERS = frozenset("*?[]{}$!|")

# The argument of PKO's manager that names the package image to bootstrap.
SELF_BOOTSTRAP_FLAGS = ("-self-bootstrap=", "--self-bootstrap=")

# ``-flag=value`` or ``--flag=value`` in args and command.
_FLAG_RE = re.compile(r"^(--?[A-Za-z0-9][A-Za-z0-9_.-]*=)(.*)$", re.DOTALL)

ROLE_IMAGE = "container image"
ROLE_PACKAGE_IMAGE = "package image"
ROLE_ARGUMENT = "argument"
ROLE_ENV_VALUE = "env value"


@dataclass(frozen=True)
class ObjectInfo:
    """The document's top-level object, as error messages and results name it."""

    document: int
    kind: Optional[str]
    namespace: Optional[str]
    name: Optional[str]

    def describe(self) -> str:
        parts = [part for part in (self.kind, self.qualified_name) if part]
        if not parts:
            return "document %d" % self.document
        return "document %d (%s)" % (self.document, " ".join(parts))

    @property
    def qualified_name(self) -> Optional[str]:
        if self.name and self.namespace:
            return "%s/%s" % (self.namespace, self.name)
        return self.name


@dataclass
class Field:
    """A scalar that contains, or may contain, an image reference.

    ``prefix`` is the part of the value before the reference, such as
    ``-self-bootstrap=`` in an argument. ``flow`` is True when the scalar is
    inside a flow collection, which limits how it may be written.
    """

    owner: ObjectInfo
    path: Path
    node: ScalarNode
    key: Optional[ScalarNode]
    flow: bool
    role: str
    prefix: str = ""

    @property
    def value(self) -> str:
        return self.node.value

    @property
    def reference(self) -> str:
        return self.node.value[len(self.prefix) :]

    def describe(self) -> str:
        return "%s, field %s" % (self.owner.describe(), format_path(self.path))


@dataclass
class EnvEntry:
    """An env entry with the requested name, inside one container."""

    owner: ObjectInfo
    path: Path
    node: MappingNode
    entries: MappingEntries
    flow: bool

    def describe(self) -> str:
        return "%s, field %s" % (self.owner.describe(), format_path(self.path))


@dataclass
class ManifestScan:
    """Everything in a manifest that a prefix override can change.

    ``images`` are container images and PKO package images: each must be a
    valid reference. ``arguments`` and ``env_values`` are free text that may
    or may not be a reference. ``env_entries`` are the env entries named like
    the requested variable.
    """

    stream: Stream
    images: List[Field] = field(default_factory=list)
    arguments: List[Field] = field(default_factory=list)
    env_values: List[Field] = field(default_factory=list)
    env_entries: List[EnvEntry] = field(default_factory=list)
    containers: int = 0


def is_placeholder(value: str) -> bool:
    """Return True for an empty image or a pattern or template, which is left alone."""
    return value == "" or any(ch in PATTERN_CHARACTERS for ch in value)


def split_flag(value: str) -> Tuple[str, str]:
    """Split ``--flag=value`` into ``("--flag=", "value")``, and other text into ``("", text)``."""
    found = _FLAG_RE.match(value)
    if found is None:
        return "", value
    return found.group(1), found.group(2)


def api_group(api_version: str) -> str:
    """Return the API group of an apiVersion, ``""`` for the core group."""
    group, slash, version = api_version.rpartition("/")
    return group if slash else ""


def scan_manifest(stream: Stream, env_name: Optional[str] = None) -> ManifestScan:
    """Collect the image fields and the ``env_name`` entries of every document.

    Raises ManifestError, naming the document and field, for a document that
    is not a Kubernetes object, a mapping with a duplicate key, or a pod spec
    or Package whose fields have the wrong type.
    """
    scan = ManifestScan(stream=stream)
    for index, root in enumerate(stream.documents, 1):
        if is_empty_document(root):
            continue
        _Scanner(scan, index, root, env_name).run()
    return scan


class _Scanner:
    """Walk one document depth-first, in document order, without recursion."""

    def __init__(
        self, scan: ManifestScan, index: int, root: Node, env_name: Optional[str]
    ):
        self.scan = scan
        self.source = scan.stream.source
        self.index = index
        self.root = root
        self.env_name = env_name
        self.owner = ObjectInfo(index, None, None, None)
        # Pod specs at the known place in built-in kinds get type checks.
        self.strict_pod_specs: Set[int] = set()

    def fail(self, path: Path, problem: str) -> ManifestError:
        return ManifestError(
            "%s: %s, field %s: %s"
            % (self.source, self.owner.describe(), format_path(path), problem)
        )

    def entries(self, node: MappingNode, path: Path) -> MappingEntries:
        try:
            return mapping_entries(node)
        except DuplicateKeyError as error:
            raise self.fail(
                path,
                "the key %s appears twice (lines %d and %d). YAML keeps only one of "
                "them, so remove the other."
                % (
                    quote_value(error.key),
                    error.first.start_mark.line + 1,
                    error.second.start_mark.line + 1,
                ),
            ) from None

    def run(self) -> None:
        if not isinstance(self.root, MappingNode):
            raise ManifestError(
                "%s: document %d (line %d) is a %s, not a Kubernetes object. Each "
                "document must be a mapping with apiVersion and kind."
                % (
                    self.source,
                    self.index,
                    self.root.start_mark.line + 1,
                    _node_type(self.root),
                )
            )
        entries = self.entries(self.root, ())
        self.owner = _object_info(self.index, entries)
        for key in ("apiVersion", "kind"):
            if (
                key not in entries
                or not is_string(entries[key][1])
                or not entries[key][1].value
            ):
                raise self.fail(
                    (key,),
                    "missing or not a string. Each document must be a Kubernetes "
                    "object with apiVersion and kind.",
                )

        visited: Set[int] = set()
        stack: List[Tuple[Node, Path, bool]] = [(self.root, (), False)]
        while stack:
            node, path, flow = stack.pop()
            if id(node) in visited:
                continue
            visited.add(id(node))
            if isinstance(node, MappingNode):
                self.inspect_mapping(node, path, flow)
                inner_flow = flow or bool(node.flow_style)
                for key, value in reversed(node.value):
                    name = key.value if isinstance(key, ScalarNode) else "?"
                    stack.append((value, path + (name,), inner_flow))
            elif isinstance(node, SequenceNode):
                inner_flow = flow or bool(node.flow_style)
                for position in range(len(node.value) - 1, -1, -1):
                    stack.append((node.value[position], path + (position,), inner_flow))

    def inspect_mapping(self, node: MappingNode, path: Path, flow: bool) -> None:
        entries = self.entries(node, path)
        kind = entries.get("kind")
        api_version = entries.get("apiVersion")
        if is_string(kind and kind[1]) and is_string(api_version and api_version[1]):
            self.inspect_object(
                entries, kind[1].value, api_version[1].value, path, flow
            )

        # Spelled out because this runs for every mapping in the manifest.
        if (
            "containers" in entries
            or "initContainers" in entries
            or "ephemeralContainers" in entries
        ):
            self.inspect_pod_spec(node, entries, path, flow)

    def inspect_object(
        self,
        entries: MappingEntries,
        kind: str,
        api_version: str,
        path: Path,
        flow: bool,
    ) -> None:
        group = api_group(api_version)
        if kind in POD_SPEC_PATHS and group in POD_SPEC_PATHS[kind][0]:
            self.mark_strict_pod_spec(entries, POD_SPEC_PATHS[kind][1], path)
        elif kind in PACKAGE_KINDS and group == PACKAGE_API_GROUP:
            self.add_package_image(entries, path, flow)

    def mark_strict_pod_spec(
        self, entries: MappingEntries, steps: Tuple[str, ...], path: Path
    ) -> None:
        current = entries
        for step in steps:
            if step not in current or is_null(current[step][1]):
                return
            node = current[step][1]
            path = path + (step,)
            if not isinstance(node, MappingNode):
                raise self.fail(
                    path, "expected a mapping, found a %s." % _node_type(node)
                )
            current = self.entries(node, path)
        self.strict_pod_specs.add(id(node))

    def add_package_image(
        self, entries: MappingEntries, path: Path, flow: bool
    ) -> None:
        spec = entries.get("spec")
        if spec is None or not isinstance(spec[1], MappingNode):
            raise self.fail(
                path + ("spec",),
                "a Package or ClusterPackage needs a spec mapping with the package "
                "image in spec.image.",
            )
        spec_entries = self.entries(spec[1], path + ("spec",))
        image = spec_entries.get("image")
        image_path = path + ("spec", "image")
        if image is None or is_null(image[1]):
            raise self.fail(
                image_path, "missing. Set it to the package image reference."
            )
        if not is_string(image[1]):
            raise self.fail(
                image_path,
                "expected an image reference string, found %s."
                % _describe_value(image[1]),
            )
        inner_flow = flow or bool(spec[1].flow_style)
        self.scan.images.append(
            Field(
                self.owner,
                image_path,
                image[1],
                image[0],
                inner_flow,
                ROLE_PACKAGE_IMAGE,
            )
        )

    def inspect_pod_spec(
        self, node: MappingNode, entries: MappingEntries, path: Path, flow: bool
    ) -> None:
        strict = id(node) in self.strict_pod_specs
        inner_flow = flow or bool(node.flow_style)
        for list_key in CONTAINER_LIST_KEYS:
            if list_key not in entries or is_null(entries[list_key][1]):
                continue
            containers = entries[list_key][1]
            list_path = path + (list_key,)
            if strict:
                self.check_container_list(containers, list_path)
            elif not _looks_like_container_list(containers):
                continue
            list_flow = inner_flow or bool(containers.flow_style)
            for position, container in enumerate(containers.value):
                self.inspect_container(container, list_path + (position,), list_flow)

    def check_container_list(self, containers: Node, path: Path) -> None:
        if not isinstance(containers, SequenceNode):
            raise self.fail(
                path,
                "expected a list of containers, found %s."
                % _describe_value(containers),
            )
        for position, container in enumerate(containers.value):
            if not isinstance(container, MappingNode):
                raise self.fail(
                    path + (position,),
                    "expected a container mapping, found %s."
                    % _describe_value(container),
                )

    def inspect_container(self, container: MappingNode, path: Path, flow: bool) -> None:
        self.scan.containers += 1
        entries = self.entries(container, path)
        inner_flow = flow or bool(container.flow_style)

        image = entries.get("image")
        if image is not None and not is_null(image[1]):
            if not is_string(image[1]):
                raise self.fail(
                    path + ("image",),
                    "expected an image reference string, found %s."
                    % _describe_value(image[1]),
                )
            if not is_placeholder(image[1].value):
                self.scan.images.append(
                    Field(
                        self.owner,
                        path + ("image",),
                        image[1],
                        image[0],
                        inner_flow,
                        ROLE_IMAGE,
                    )
                )

        for list_key in ("command", "args"):
            self.inspect_arguments(entries, list_key, path, inner_flow)
        self.inspect_env(entries, path, inner_flow)

    def inspect_arguments(
        self, entries: MappingEntries, list_key: str, path: Path, flow: bool
    ) -> None:
        if list_key not in entries or is_null(entries[list_key][1]):
            return
        arguments = entries[list_key][1]
        list_path = path + (list_key,)
        if not isinstance(arguments, SequenceNode):
            raise self.fail(
                list_path,
                "expected a list of strings, found %s." % _describe_value(arguments),
            )
        list_flow = flow or bool(arguments.flow_style)
        for position, argument in enumerate(arguments.value):
            if is_string(argument):
                prefix, value = split_flag(argument.value)
                self.scan.arguments.append(
                    Field(
                        self.owner,
                        list_path + (position,),
                        argument,
                        None,
                        list_flow,
                        ROLE_ARGUMENT,
                        prefix,
                    )
                )

    def inspect_env(self, entries: MappingEntries, path: Path, flow: bool) -> None:
        if "env" not in entries or is_null(entries["env"][1]):
            return
        env = entries["env"][1]
        env_path = path + ("env",)
        if not isinstance(env, SequenceNode):
            raise self.fail(
                env_path,
                "expected a list of {name, value} entries, found %s."
                % _describe_value(env),
            )
        env_flow = flow or bool(env.flow_style)
        for position, item in enumerate(env.value):
            item_path = env_path + (position,)
            if not isinstance(item, MappingNode):
                raise self.fail(
                    item_path,
                    "expected an env entry mapping with name and value, found %s."
                    % _describe_value(item),
                )
            item_entries = self.entries(item, item_path)
            name = item_entries.get("name")
            if name is None or not is_string(name[1]):
                raise self.fail(item_path + ("name",), "missing or not a string.")
            item_flow = env_flow or bool(item.flow_style)
            if name[1].value == self.env_name:
                self.scan.env_entries.append(
                    EnvEntry(self.owner, item_path, item, item_entries, item_flow)
                )
                continue
            value = item_entries.get("value")
            if value is not None and is_string(value[1]):
                self.scan.env_values.append(
                    Field(
                        self.owner,
                        item_path + ("value",),
                        value[1],
                        value[0],
                        item_flow,
                        ROLE_ENV_VALUE,
                    )
                )


def _looks_like_container_list(node: Node) -> bool:
    if not isinstance(node, SequenceNode) or not node.value:
        return False
    if not all(isinstance(item, MappingNode) for item in node.value):
        return False
    for item in node.value:
        for key, value in item.value:
            if (
                isinstance(key, ScalarNode)
                and key.value == "image"
                and is_string(value)
            ):
                return True
    return False


def _object_info(index: int, entries: MappingEntries) -> ObjectInfo:
    kind = entries.get("kind")
    metadata = entries.get("metadata")
    name = namespace = None
    if metadata is not None and isinstance(metadata[1], MappingNode):
        for key, value in metadata[1].value:
            if isinstance(key, ScalarNode) and is_string(value):
                if key.value == "name":
                    name = value.value
                elif key.value == "namespace":
                    namespace = value.value
    return ObjectInfo(
        document=index,
        kind=kind[1].value if kind is not None and is_string(kind[1]) else None,
        namespace=namespace,
        name=name,
    )


def _node_type(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "mapping"
    if isinstance(node, SequenceNode):
        return "list"
    return "scalar"


def _describe_value(node: Node) -> str:
    if isinstance(node, ScalarNode):
        kind = node.tag.rsplit(":", 1)[-1]
        return "the %s %s" % (kind, quote_value(node.value))
    return "a %s" % _node_type(node)
