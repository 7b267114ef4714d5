# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Apply image prefix overrides to a multi-document manifest, in place.

The result differs from the input only in the values that change, so
``git diff`` shows only the rewritten lines. What changes:

- container, initContainer and ephemeralContainer ``image`` fields and
  PKO's Package and ClusterPackage ``.spec.image``, which must be valid
  references;
- ``args`` and ``command`` items of the form ``-flag=<ref>``,
  ``--flag=<ref>`` or a bare ``<ref>``;
- with ``rewrite_env_values``, env values that are references;
- the value of the ``env_name`` entry, in every container that declares it,
  which becomes the override string.

References that already start with some rule's ``to`` stay as they are, so
a second run on the output changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ansible_collections.pko.airgap.plugins.module_utils.image_reference import (
    ImageReferenceError,
    parse_image_reference,
    quote_value,
)
from ansible_collections.pko.airgap.plugins.module_utils.manifest_images import (
    SELF_BOOTSTRAP_FLAGS,
    EnvEntry,
    Field,
    scan_manifest,
)
from ansible_collections.pko.airgap.plugins.module_utils.manifest_yaml import (
    Edit,
    EditError,
    ManifestError,
    MappingNode,
    Node,
    Path,
    ScalarNode,
    SequenceNode,
    Stream,
    append_mapping_entry,
    apply_edits,
    compose_stream,
    format_path,
    is_string,
    iter_documents,
    paused_garbage_collection,
    replace_scalar,
)
from ansible_collections.pko.airgap.plugins.module_utils.prefix_overrides import (
    ENV_NAME,
    OverridesInput,
    PrefixMatcher,
    PrefixOverrideError,
)


@dataclass(frozen=True)
class Rewrite:
    """One changed field; ``document`` counts from 1, comment-only documents included."""

    document: int
    kind: Optional[str]
    namespace: Optional[str]
    name: Optional[str]
    path: str
    before: Optional[str]
    after: str

    def as_dict(self) -> dict:
        return {
            "document": self.document,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "path": self.path,
            "before": self.before,
            "after": self.after,
        }


@dataclass
class RewriteResult:
    """The rewritten text and what changed.

    ``references`` lists the image references found, as written, for
    linting the rules against them.
    """

    text: str
    rewrites: List[Rewrite]
    env_value: str
    references: List[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.rewrites)


def validate_env_name(env_name: object) -> Optional[str]:
    """Return ``env_name``, or None when it is empty and no env var is to be set.

    Raises ManifestError for a value that cannot name an env var.
    """
    if env_name is None or env_name == "":
        return None
    if not isinstance(env_name, str):
        raise ManifestError(
            "env_name must be a string, got %s. Use the variable that PKO reads, "
            "%s, or an empty string to set no variable."
            % (quote_value(env_name), ENV_NAME)
        )
    if (
        "=" in env_name
        or not env_name.isprintable()
        or any(ch.isspace() for ch in env_name)
    ):
        raise ManifestError(
            "env_name %s is not a valid environment variable name: it must not "
            "contain '=', whitespace or control characters. Use %s."
            % (quote_value(env_name), ENV_NAME)
        )
    return env_name


def rewrite_manifest(
    text: str,
    overrides: OverridesInput,
    source: str = "manifest",
    env_name: str = ENV_NAME,
    boundary: bool = False,
    normalize: bool = False,
    rewrite_env_values: bool = False,
) -> RewriteResult:
    """Return ``text`` with the prefix overrides applied; see the module docstring.

    An empty ``env_name`` sets no env var, for manifests that do not run PKO.
    Raises PrefixOverrideError for malformed overrides and ManifestError for
    a manifest that cannot be rewritten, naming ``source``, the document and
    the field. Nothing is returned in part: either every field is rewritten
    or an error is raised.
    """
    matcher = PrefixMatcher(overrides, boundary=boundary, normalize=normalize)
    env_name = validate_env_name(env_name)
    with paused_garbage_collection():
        return _rewrite(text, matcher, source, env_name, rewrite_env_values)


def _rewrite(
    text: str,
    matcher: PrefixMatcher,
    source: str,
    env_name: Optional[str],
    rewrite_env_values: bool,
) -> RewriteResult:
    stream = compose_stream(text, source)
    scan = scan_manifest(stream, env_name)
    if matcher.rules and env_name is not None and not scan.env_entries:
        raise ManifestError(
            "%s: no container declares the env var %s, so PKO would not receive the "
            "overrides. Add '- name: %s' to the env of the container that runs PKO, "
            "set env_name to the variable it reads, or set env_name to an empty "
            "string to rewrite only the images." % (source, env_name, env_name)
        )

    planner = _Planner(stream, matcher)
    for image in scan.images:
        planner.rewrite_image(image)
    for argument in scan.arguments:
        planner.rewrite_free_text(argument)
    if rewrite_env_values:
        for value in scan.env_values:
            planner.rewrite_free_text(value)
    for entry in scan.env_entries:
        planner.set_env_value(entry, matcher.env_value)

    try:
        new_text = apply_edits(text, planner.edits) if planner.edits else text
    except EditError as error:
        raise ManifestError(
            "%s: cannot rewrite the manifest: %s." % (source, error)
        ) from None
    if planner.edits:
        _verify(stream, new_text, planner)
    return RewriteResult(
        text=new_text,
        rewrites=[
            rewrite
            for position, rewrite in sorted(planner.rewrites, key=lambda x: x[0])
        ],
        env_value=matcher.env_value,
        references=planner.references,
    )


class _Planner:
    """Collect the edits and the report, and what verification expects."""

    def __init__(self, stream: Stream, matcher: PrefixMatcher) -> None:
        self.stream = stream
        self.matcher = matcher
        self.edits: List[Edit] = []
        # Each rewrite with its text index, to report them in document order.
        self.rewrites: List[Tuple[int, Rewrite]] = []
        self.references: List[str] = []
        # What verification expects, keyed by the id() of the original node.
        # Each id stays unique because the stream keeps every node alive.
        self.replaced: Dict[int, str] = {}
        self.inserted: Dict[int, Tuple[str, str]] = {}

    def fail(self, where: str, problem: str) -> ManifestError:
        return ManifestError("%s: %s: %s" % (self.stream.source, where, problem))

    def rewrite_image(self, image: Field) -> None:
        reference = image.value
        try:
            parse_image_reference(reference)
        except ImageReferenceError as error:
            raise self.fail(image.describe(), str(error)) from None
        self.references.append(reference)
        if not self.matcher:
            return
        new_reference = self.matcher.rewrite_once(reference)
        if new_reference != reference:
            self.check_result(image, reference, new_reference)
            self.replace(image, new_reference)

    def rewrite_free_text(self, text_field: Field) -> None:
        reference = text_field.reference
        try:
            parsed = parse_image_reference(reference)
        except ImageReferenceError as error:
            # Free text that is no reference stays as it is, unless PKO would
            # pull it: the package image argument, or text that a rule matches
            # (PKO matches plain strings, so it would redirect it).
            if text_field.prefix in SELF_BOOTSTRAP_FLAGS or self.matches(reference):
                raise self.fail(
                    text_field.describe(),
                    "%s. PKO would pull it as an image, so fix the reference "
                    "in the manifest." % str(error).rstrip("."),
                ) from None
            return

        # Free text such as ``sleep`` or ``3600`` parses as a Docker Hub name,
        # so normalizing it would redirect words that are not images.
        if self.matcher.normalize and not parsed.domain:
            return
        new_reference = (
            self.matcher.rewrite_once(reference) if self.matcher else reference
        )

        # For the same reason, only free text that names a registry or that a
        # rule changes counts as an image reference for the lint.
        if parsed.domain or new_reference != reference:
            self.references.append(reference)
        if new_reference != reference:
            self.check_result(text_field, reference, new_reference)
            self.replace(text_field, text_field.prefix + new_reference)

    def matches(self, text: str) -> bool:
        """Return True when a rule matches ``text``, which may be no reference at all."""
        try:
            return self.matcher.match(text) is not None
        except ImageReferenceError:
            # normalize mode parses the text first.
            return False

    def check_result(self, image: Field, reference: str, new_reference: str) -> None:
        try:
            self.matcher.check_rewritten(reference, new_reference)
        except PrefixOverrideError as error:
            raise self.fail(image.describe(), str(error)) from None

    def replace(self, target: Field, value: str) -> None:
        try:
            edit = replace_scalar(
                self.stream, target.node, value, target.flow, target.key
            )
        except EditError as error:
            raise self.fail(target.describe(), str(error) + ".") from None
        self.edits.append(edit)
        self.replaced[id(target.node)] = value
        self.rewrites.append(
            (edit.start, _record(target.owner, target.path, target.value, value))
        )

    def set_env_value(self, entry: EnvEntry, env_value: str) -> None:
        if "valueFrom" in entry.entries:
            raise self.fail(
                entry.describe(),
                "the entry sets valueFrom, so a value cannot be set as well. Remove "
                "valueFrom to let this rewrite set the overrides.",
            )
        value_path = entry.path + ("value",)
        found = entry.entries.get("value")
        if found is None:
            try:
                edit = append_mapping_entry(
                    self.stream, entry.node, "value", env_value, entry.flow
                )
            except EditError as error:
                raise self.fail(entry.describe(), str(error) + ".") from None
            self.edits.append(edit)
            self.inserted[id(entry.node)] = ("value", env_value)
            self.rewrites.append(
                (edit.start, _record(entry.owner, value_path, None, env_value))
            )
            return

        key, node = found
        if not isinstance(node, ScalarNode):
            raise self.fail(
                "%s, field %s" % (entry.owner.describe(), format_path(value_path)),
                "expected a string, found a collection. Set it to a string.",
            )
        if is_string(node) and node.value == env_value:
            return
        target = Field(entry.owner, value_path, node, key, entry.flow, "env value")
        before = node.value if is_string(node) else None
        try:
            edit = replace_scalar(self.stream, node, env_value, entry.flow, key)
        except EditError as error:
            raise self.fail(target.describe(), str(error) + ".") from None
        self.edits.append(edit)
        self.replaced[id(node)] = env_value
        self.rewrites.append(
            (edit.start, _record(entry.owner, value_path, before, env_value))
        )


def _record(owner, path: Path, before: Optional[str], after: str) -> Rewrite:
    return Rewrite(
        document=owner.document,
        kind=owner.kind,
        namespace=owner.namespace,
        name=owner.name,
        path=format_path(path),
        before=before,
        after=after,
    )


def _verify(stream: Stream, new_text: str, planner: _Planner) -> None:
    """Re-parse the output and check that only the planned values changed.

    This guards the text splicing: a scalar written in a style that does not
    round-trip, or an insertion at the wrong indentation, fails here instead
    of reaching a file.
    """
    source = stream.source
    # The new documents are composed one at a time and dropped after the
    # comparison, so that only one copy of the whole tree is in memory.
    new_documents = iter_documents(new_text, source)
    end = object()
    compared = 0
    while True:
        try:
            new = next(new_documents, end)
        except ManifestError as error:
            raise _internal_error(
                source, "the result does not parse: %s" % error
            ) from None
        if new is end:
            break
        compared += 1
        if compared > len(stream.documents):
            break
        problem = _compare(stream.documents[compared - 1], new, planner)
        if problem is not None:
            raise _internal_error(source, "document %d, field %s" % (compared, problem))
    if compared != len(stream.documents):
        raise _internal_error(source, "the number of documents changed")


def _internal_error(source: str, detail: str) -> ManifestError:
    return ManifestError(
        "%s: internal error: the rewritten text failed verification (%s). Nothing "
        "was written. Please report this with the manifest." % (source, detail)
    )


def _compare(old: Node, new: Node, planner: _Planner) -> Optional[str]:
    """Return the path of the first unexpected difference, or None."""
    visited = set()
    stack: List[Tuple[Node, Node, Path]] = [(old, new, ())]
    while stack:
        old_node, new_node, path = stack.pop()
        if type(old_node) is not type(new_node):
            return format_path(path)
        if isinstance(old_node, ScalarNode):
            expected = planner.replaced.get(id(old_node))
            if expected is None:
                same = old_node.value == new_node.value and old_node.tag == new_node.tag
            else:
                same = is_string(new_node) and new_node.value == expected
            if not same:
                return format_path(path)
            continue
        if id(old_node) in visited:
            continue
        visited.add(id(old_node))
        if isinstance(old_node, SequenceNode):
            if len(old_node.value) != len(new_node.value):
                return format_path(path)
            stack.extend(
                (old_item, new_item, path + (position,))
                for position, (old_item, new_item) in enumerate(
                    zip(old_node.value, new_node.value)
                )
            )
            continue
        problem = _compare_mapping(old_node, new_node, path, planner, stack)
        if problem is not None:
            return problem
    return None


def _compare_mapping(
    old_node: MappingNode,
    new_node: MappingNode,
    path: Path,
    planner: _Planner,
    stack: list,
) -> Optional[str]:
    old_pairs = old_node.value
    new_pairs = new_node.value
    insertion = planner.inserted.get(id(old_node))
    if insertion is not None:
        if len(new_pairs) != len(old_pairs) + 1:
            return format_path(path)
        key, value = new_pairs[-1]
        if not (is_string(key) and key.value == insertion[0]):
            return format_path(path)
        if not (is_string(value) and value.value == insertion[1]):
            return format_path(path + (insertion[0],))
        new_pairs = new_pairs[:-1]
    if len(new_pairs) != len(old_pairs):
        return format_path(path)
    for (old_key, old_value), (new_key, new_value) in zip(old_pairs, new_pairs):
        name = old_key.value if isinstance(old_key, ScalarNode) else "?"
        stack.append((old_key, new_key, path + (name,)))
        stack.append((old_value, new_value, path + (name,)))
    return None
