# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Edit values in YAML text without reformatting anything else.

The text is composed into PyYAML nodes, which carry the start and end index
of each node in the text. Changes are collected as :class:`Edit` spans on the
original text and spliced in, so comments, key order, quoting, indentation
and document separators stay exactly as they were.

libyaml (PyYAML's C loader) and the pure-Python loader both count indexes in
code points, as Python's ``str`` does, and count ``\\r\\n`` as two. libyaml
does not count a leading byte order mark, so the text is parsed without it
and every index is shifted back by one.
"""

from __future__ import annotations

import gc
import io
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from ansible_collections.pko.airgap.plugins.module_utils.image_reference import (
    quote_value,
)

# A managed node may lack PyYAML. This file must still import, so that
# reading a manifest fails with a message instead of a traceback. The node
# classes then are a placeholder that nothing is an instance of.
try:
    import yaml
    from yaml.emitter import Emitter
    from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
    from yaml.resolver import Resolver
except ImportError:
    yaml = None
    Emitter = Resolver = None
    MappingNode = Node = ScalarNode = SequenceNode = type("MissingYamlNode", (), {})

if yaml is not None:
    try:
        from yaml import CSafeLoader as FastSafeLoader
    except ImportError:  # PyYAML built without libyaml, as on some managed nodes
        from yaml import SafeLoader as FastSafeLoader

STR_TAG = "tag:yaml.org,2002:str"
NULL_TAG = "tag:yaml.org,2002:null"
MERGE_TAG = "tag:yaml.org,2002:merge"
BYTE_ORDER_MARK = "\ufeff"

# Strings that are certainly safe as plain scalars in block or flow context.
# Anything else goes through the emitter's full analysis.
_SIMPLE_BLOCK_PLAIN_RE = re.compile(r"^[A-Za-z0-9_/][A-Za-z0-9_./@=+,:-]*(?<!:)\Z")
_SIMPLE_FLOW_PLAIN_RE = re.compile(r"^[A-Za-z0-9_/][A-Za-z0-9_./@=+-]*\Z")
# Printable ASCII without '"' and '\', which double quotes carry as is.
_SIMPLE_DOUBLE_QUOTED_RE = re.compile(r"^[ !#-\[\]-~]*\Z")
_SIMPLE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+\Z")

PathElement = Union[str, int]
Path = Tuple[PathElement, ...]


class ManifestError(ValueError):
    """Invalid manifest input, with a message that names the place and the fix."""


class EditError(ValueError):
    """A value that cannot be written back in place, without location details."""


def format_path(path: Sequence[PathElement]) -> str:
    """Format a node path as ``spec.containers[0].image``."""
    parts = []
    for element in path:
        if isinstance(element, int):
            parts.append("[%d]" % element)
        elif _SIMPLE_KEY_RE.match(element):
            parts.append(("." if parts else "") + element)
        else:
            parts.append('["%s"]' % element.replace("\\", "\\\\").replace('"', '\\"'))
    return "".join(parts) or "(document root)"


@dataclass(frozen=True)
class Edit:
    """Replace ``text[start:end]`` with ``replacement``."""

    start: int
    end: int
    replacement: str


@dataclass
class Stream:
    """A YAML stream: its text and the root node of each document.

    ``offset`` is added to every node index to get an index into ``text``.
    A document that contains only comments has an empty null scalar as root.
    """

    text: str
    offset: int
    documents: List[Node]
    source: str

    def start(self, node: Node) -> int:
        return node.start_mark.index + self.offset

    def end(self, node: Node) -> int:
        return node.end_mark.index + self.offset


@contextmanager
def paused_garbage_collection():
    """Disable Python's cyclic garbage collector for the block, then restore it.

    A composed stream is a large graph of live objects, and each automatic
    collection would traverse all of it again. Pausing the collector made
    composing 3,000 to 10,000 documents 2 to 3 times faster (the
    ``compose_gc_slowdown_ratio`` of benchmarks/rewrite). Objects are still
    freed by reference counting. Only a recursive YAML alias creates a cycle,
    which the collector frees once it runs again.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def compose_stream(text: str, source: str) -> Stream:
    """Parse ``text`` into nodes, or raise ManifestError naming line and column.

    ``source`` names the text in messages, such as a file path.
    """
    offset = 1 if text.startswith(BYTE_ORDER_MARK) else 0
    with paused_garbage_collection():
        documents = list(iter_documents(text, source))
    return Stream(text=text, offset=offset, documents=documents, source=source)


def iter_documents(text: str, source: str) -> Iterator[Node]:
    """Yield the root node of each document as it is composed.

    Raises ManifestError like :func:`compose_stream`, when the iteration
    reaches the invalid part. Node indexes do not count a leading byte order
    mark.
    """
    if yaml is None:
        raise ManifestError(
            "reading %s needs the Python package PyYAML on the host that runs the "
            "module. Install it (pip install PyYAML)." % source
        )

    body = text[1:] if text.startswith(BYTE_ORDER_MARK) else text
    loader = _loader_for(body)
    documents = yaml.compose_all(body, Loader=loader)
    while True:
        try:
            document = next(documents)
        except StopIteration:
            return
        except (yaml.YAMLError, RecursionError) as error:
            raise _parse_error(body, source, error, loader) from None
        yield document


# The C loader of PyYAML 6.0.3 and older composes nested flow collections by C
# recursion without a depth limit, so about 60,000 levels of "[" overflow the C
# stack and kill the process (measured with PyYAML 6.0.3, the newest release
# for Python 3.9). PyYAML 6.0.4 raises a ScannerError beyond 1,000 levels.
# With a C loader that has no limit, text that could nest deeper than this
# threshold is composed by the pure-Python loader, which raises RecursionError.
# NOTE: On such builds a JSON manifest with more than 1,000 brackets is read by
# the slower pure-Python loader too, however shallow it is.
FLOW_NESTING_THRESHOLD = 1000
_LOADER_LIMITS_NESTING: Dict[type, bool] = {}


def _loader_for(body: str) -> type:
    loader = FastSafeLoader
    if loader is yaml.SafeLoader:
        return loader

    # Counting is a fast upper bound of the flow nesting depth.
    if body.count("[") + body.count("{") <= FLOW_NESTING_THRESHOLD:
        return loader

    if loader not in _LOADER_LIMITS_NESTING:
        depth = 2 * FLOW_NESTING_THRESHOLD
        try:
            yaml.compose("[" * depth + "]" * depth, Loader=loader)
        except yaml.YAMLError:
            _LOADER_LIMITS_NESTING[loader] = True
        else:
            _LOADER_LIMITS_NESTING[loader] = False
    if _LOADER_LIMITS_NESTING[loader]:
        return loader
    return yaml.SafeLoader


def _parse_error(
    body: str, source: str, error: BaseException, loader: type
) -> ManifestError:
    if isinstance(error, yaml.MarkedYAMLError):
        return ManifestError(_syntax_message(source, error))
    if isinstance(error, yaml.reader.ReaderError):
        position = error.position
        if loader is getattr(yaml, "CSafeLoader", None):
            # libyaml reports this position in bytes of the UTF-8 text.
            prefix = body.encode("utf-8")[:position]
            position = len(prefix.decode("utf-8", errors="ignore"))
        line, column = _line_column(body, position)
        return ManifestError(
            "%s: line %d, column %d: not valid YAML text: the character %s is not "
            "allowed in YAML. Remove it, or check that the file is a UTF-8 text "
            "manifest." % (source, line, column, quote_value(chr(error.character)))
        )
    if isinstance(error, RecursionError):
        return ManifestError(
            "%s: not supported: the YAML nesting is deeper than the parser's "
            "recursion limit. Kubernetes manifests are never nested that deep; "
            "check that the file is a manifest." % source
        )
    return ManifestError("%s: not valid YAML: %s" % (source, error))


def _syntax_message(source: str, error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    where = ""
    if mark is not None:
        where = "line %d, column %d: " % (mark.line + 1, mark.column + 1)
    problem = error.problem or "syntax error"
    if error.context:
        problem += " " + error.context
        context_mark = error.context_mark
        if context_mark is not None and (context_mark.line, context_mark.column) != (
            mark.line,
            mark.column,
        ):
            problem += " (started at line %d, column %d)" % (
                context_mark.line + 1,
                context_mark.column + 1,
            )
    return "%s: %snot valid YAML: %s. Fix the YAML syntax at that position." % (
        source,
        where,
        problem,
    )


def _line_column(text: str, position: int) -> Tuple[int, int]:
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return line, column


def is_empty_document(node: Node) -> bool:
    """Return True for a document without content, such as only comments."""
    return (
        isinstance(node, ScalarNode)
        and node.tag == NULL_TAG
        and node.value == ""
        and node.start_mark.index == node.end_mark.index
    )


def is_string(node: Optional[Node]) -> bool:
    return isinstance(node, ScalarNode) and node.tag == STR_TAG


def is_null(node: Optional[Node]) -> bool:
    return isinstance(node, ScalarNode) and node.tag == NULL_TAG


class DuplicateKeyError(ValueError):
    """A mapping that gives the same key twice."""

    def __init__(self, key: str, first: Node, second: Node) -> None:
        super().__init__(key)
        self.key = key
        self.first = first
        self.second = second


MappingEntries = Dict[str, Tuple[ScalarNode, Node]]


def mapping_entries(node: MappingNode, _seen: Optional[set] = None) -> MappingEntries:
    """Index a mapping's scalar keys, with ``<<`` merge keys applied.

    Keys written in the mapping win over merged ones, as in YAML's merge key
    type. Raises DuplicateKeyError for a key written twice, which PyYAML
    would otherwise resolve silently by keeping the last value.
    """
    # An anchor can be merged into itself (``&a {<<: *a}``), so merged
    # mappings are visited once.
    seen = set() if _seen is None else _seen
    seen.add(id(node))
    entries: MappingEntries = {}
    merged: List[Node] = []
    for key, value in node.value:
        if not isinstance(key, ScalarNode):
            continue
        if key.tag == MERGE_TAG:
            merged.append(value)
            continue
        if key.value in entries:
            raise DuplicateKeyError(key.value, entries[key.value][0], key)
        entries[key.value] = (key, value)

    for source in merged:
        sources = source.value if isinstance(source, SequenceNode) else [source]
        for item in sources:
            if isinstance(item, MappingNode) and id(item) not in seen:
                for name, entry in mapping_entries(item, seen).items():
                    entries.setdefault(name, entry)
    return entries


# PyYAML's dumper chooses a scalar style with this analysis, which decides
# whether a string may be written plain.
_ANALYZER = Emitter(io.StringIO(), allow_unicode=True) if Emitter else None
_RESOLVER = Resolver() if Resolver else None


def _plain_allowed(value: str, flow: bool) -> bool:
    simple = _SIMPLE_FLOW_PLAIN_RE if flow else _SIMPLE_BLOCK_PLAIN_RE
    if not simple.match(value):
        if value == "" or not value.isprintable():
            return False
        analysis = _ANALYZER.analyze_scalar(value)
        if analysis.multiline:
            return False
        allowed = analysis.allow_flow_plain if flow else analysis.allow_block_plain
        if not allowed:
            return False

    # A plain ``true`` or ``1`` would load as a bool or an int.
    return _RESOLVER.resolve(ScalarNode, value, (True, False)) == STR_TAG


def double_quoted(value: str) -> str:
    """Write ``value`` as a YAML double-quoted scalar on one line."""
    if _SIMPLE_DOUBLE_QUOTED_RE.match(value):
        return '"%s"' % value
    parts = ['"']
    for ch in value:
        if ch == '"' or ch == "\\":
            parts.append("\\" + ch)
        elif ch.isprintable() and ch != BYTE_ORDER_MARK:
            parts.append(ch)
        elif ord(ch) <= 0xFF:
            parts.append("\\x%02X" % ord(ch))
        elif ord(ch) <= 0xFFFF:
            parts.append("\\u%04X" % ord(ch))
        else:
            parts.append("\\U%08X" % ord(ch))
    parts.append('"')
    return "".join(parts)


def render_scalar(value: str, style: Optional[str], flow: bool) -> str:
    """Write ``value`` in ``style`` where that is safe, else double-quoted.

    ``style`` is PyYAML's scalar style: ``None`` or ``""`` for plain, ``'``,
    ``"``, ``|`` or ``>``. Block styles fall back to double quotes, and the
    caller keeps the line breaks that followed a block scalar.
    """
    if not style and _plain_allowed(value, flow):
        return value
    if style == "'" and value.isprintable() and BYTE_ORDER_MARK not in value:
        return "'%s'" % value.replace("'", "''")
    return double_quoted(value)


def _content_start(text: str, start: int, end: int) -> Tuple[int, bool]:
    """Return where a node's content starts after its anchor and tag, and whether it has a tag."""
    position = start
    tagged = False
    while position < end and text[position] in "&!":
        tagged = tagged or text[position] == "!"
        while position < end and text[position] not in " \t\r\n":
            position += 1
        while position < end and text[position] in " \t\r\n":
            position += 1
    return position, tagged


def replace_scalar(
    stream: Stream,
    node: ScalarNode,
    value: str,
    flow: bool,
    key: Optional[ScalarNode] = None,
) -> Edit:
    """Return the edit that sets a scalar node to the string ``value``.

    ``flow`` is True when the node is inside a flow collection, where fewer
    strings may be written plain. ``key`` is the mapping key of the node. It
    is needed when the node is an empty value (``value:``), which has no text
    of its own to replace. Raises EditError when the node cannot be rewritten
    in place.
    """
    text = stream.text
    start, end = stream.start(node), stream.end(node)
    if start == end:
        return _fill_empty_value(stream, node, key, value, flow)

    content, tagged = _content_start(text, start, end)
    if tagged and node.tag != STR_TAG:
        raise EditError(
            "it has the explicit tag %s, and a string cannot be written there. "
            "Remove the tag" % node.tag
        )

    style = node.style or None
    if style in ("|", ">"):
        # The block scalar's span ends after its last line break, and those
        # breaks belong to the layout around it, so they stay.
        body = text[content:end]
        trailing = body[len(body.rstrip("\r\n")) :]
        return Edit(content, end, double_quoted(value) + trailing)
    return Edit(content, end, render_scalar(value, style, flow))


def _fill_empty_value(
    stream: Stream, node: ScalarNode, key: Optional[ScalarNode], value: str, flow: bool
) -> Edit:
    # An empty value's index is not reliable (libyaml and the Python loader
    # disagree inside flow mappings), so the edit goes right after the key.
    if key is None:
        raise EditError("it is an empty value outside of a mapping")
    text = stream.text
    position = stream.end(key)
    while position < len(text) and text[position] in " \t":
        position += 1
    rendered = render_scalar(value, None, flow)
    if position < len(text) and text[position] == ":":
        return Edit(position + 1, position + 1, " " + rendered)
    return Edit(stream.end(key), stream.end(key), ": " + rendered)


def append_mapping_entry(
    stream: Stream, node: MappingNode, key: str, value: str, flow: bool
) -> Edit:
    """Return the edit that adds ``key: value`` after a mapping's last entry.

    A block mapping gets a new line at the indentation of its first key; a
    flow mapping gets ``, key: value`` before its closing brace.
    """
    if not node.value:
        raise EditError("the mapping is empty")
    text = stream.text
    last_key, last_value = node.value[-1]
    anchor = stream.end(last_value)
    if stream.start(last_value) == anchor:
        anchor = _fill_empty_value(stream, last_value, last_key, "", flow).start

    # Quote like the neighbours, so that a JSON manifest stays JSON.
    key_style = last_key.style if isinstance(last_key, ScalarNode) else None
    value_style = last_value.style if isinstance(last_value, ScalarNode) else key_style
    flow = flow or bool(node.flow_style)
    entry = "%s: %s" % (
        render_scalar(key, key_style or None, flow),
        render_scalar(value, value_style or None, flow),
    )
    if node.flow_style:
        return Edit(anchor, anchor, ", " + entry)

    indent = " " * node.value[0][0].start_mark.column
    if anchor > 0 and text[anchor - 1] == "\n":
        newline = "\r\n" if text[anchor - 2 : anchor] == "\r\n" else "\n"
        return Edit(anchor, anchor, indent + entry + newline)

    # Insert after the rest of the line, so that a trailing comment stays
    # on the line it belongs to.
    line_end = text.find("\n", anchor)
    if line_end == -1:
        newline = "\r\n" if "\r\n" in text else "\n"
        return Edit(len(text), len(text), newline + indent + entry)
    if line_end > 0 and text[line_end - 1] == "\r":
        return Edit(line_end - 1, line_end - 1, "\r\n" + indent + entry)
    return Edit(line_end, line_end, "\n" + indent + entry)


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """Splice ``edits`` into ``text``. Identical edits count once.

    Raises EditError when two different edits overlap, which would mean two
    rules want different values for one node.
    """
    ordered = sorted(set(edits), key=lambda edit: (edit.start, edit.end))
    pieces = []
    position = 0
    previous: Optional[Edit] = None
    for edit in ordered:
        if previous is not None and edit.start < previous.end:
            raise EditError(
                "two edits overlap at index %d: %s and %s"
                % (
                    edit.start,
                    quote_value(previous.replacement),
                    quote_value(edit.replacement),
                )
            )
        if (
            previous is not None
            and edit.start == previous.start == previous.end == edit.end
        ):
            raise EditError("two insertions at index %d" % edit.start)
        pieces.append(text[position : edit.start])
        pieces.append(edit.replacement)
        position = edit.end
        previous = edit
    pieces.append(text[position:])
    return "".join(pieces)
