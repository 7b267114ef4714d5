# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import importlib.util
import random
import sys

import pytest
import yaml

from ansible_collections.pko.airgap.plugins.module_utils import manifest_yaml
from ansible_collections.pko.airgap.plugins.module_utils.manifest_yaml import (
    DuplicateKeyError,
    Edit,
    EditError,
    ManifestError,
    append_mapping_entry,
    apply_edits,
    compose_stream,
    double_quoted,
    format_path,
    is_empty_document,
    mapping_entries,
    render_scalar,
    replace_scalar,
)

LOADERS = [pytest.param(yaml.SafeLoader, id="python-loader")]
if getattr(yaml, "CSafeLoader", None) is not None:
    LOADERS.insert(0, pytest.param(yaml.CSafeLoader, id="libyaml"))


@pytest.fixture(params=LOADERS, autouse=True)
def loader(request, monkeypatch):
    """Run every test with libyaml and with the pure-Python loader."""
    monkeypatch.setattr(manifest_yaml, "FastSafeLoader", request.param)
    return request.param


def _value_node(stream, *path, document=0):
    node = stream.documents[document]
    key = None
    for element in path:
        if isinstance(element, int):
            node, key = node.value[element], None
        else:
            key, node = mapping_entries(node)[element]
    return key, node


def _set(text, path, value, flow=False):
    stream = compose_stream(text, "test.yaml")
    key, node = _value_node(stream, *path)
    return apply_edits(text, [replace_scalar(stream, node, value, flow, key)])


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("a: old\n", "a: new/x:1\n", id="plain"),
        pytest.param('a: "old"\n', 'a: "new/x:1"\n', id="double"),
        pytest.param("a: 'old'\n", "a: 'new/x:1'\n", id="single"),
        pytest.param("a: old # note\n", "a: new/x:1 # note\n", id="comment-kept"),
        pytest.param("a: &anchor old\n", "a: &anchor new/x:1\n", id="anchor-kept"),
        pytest.param("a: !!str old\n", "a: !!str new/x:1\n", id="str-tag-kept"),
        pytest.param(
            "a: |-\n  old\nb: 1\n", 'a: "new/x:1"\nb: 1\n', id="literal-block"
        ),
        pytest.param(
            "a: >\n  old\n\nb: 1\n", 'a: "new/x:1"\n\nb: 1\n', id="folded-block"
        ),
        pytest.param("a:\n", "a: new/x:1\n", id="empty"),
        pytest.param("a:   # note\n", "a: new/x:1   # note\n", id="empty-comment"),
        pytest.param("a: ~\n", "a: new/x:1\n", id="null"),
        pytest.param("a: 5\n", "a: new/x:1\n", id="int"),
        pytest.param("a: old\r\nb: 1\r\n", "a: new/x:1\r\nb: 1\r\n", id="crlf"),
        pytest.param(
            "a: multi\n  line\nb: 1\n", "a: new/x:1\nb: 1\n", id="multiline-plain"
        ),
    ],
)
def test_replace_scalar_keeps_layout(text, expected):
    assert _set(text, ["a"], "new/x:1") == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("a: [old]\n", 'a: ["new/x:1"]\n', id="plain-with-colon"),
        pytest.param("a: [old, b]\n", "a: [new/x, b]\n", id="plain-without-colon"),
        pytest.param("a: ['old']\n", "a: ['new/x:1']\n", id="single"),
    ],
)
def test_replace_scalar_in_flow_sequence(text, expected):
    value = "new/x" if "b]" in text else "new/x:1"
    stream = compose_stream(text, "test.yaml")
    node = stream.documents[0].value[0][1].value[0]

    assert apply_edits(text, [replace_scalar(stream, node, value, True)]) == expected


@pytest.mark.parametrize(
    "value, style, flow, expected",
    [
        pytest.param("a=b,c=d", None, False, "a=b,c=d", id="commas-block"),
        pytest.param("a=b,c=d", None, True, '"a=b,c=d"', id="commas-flow"),
        pytest.param("true", None, False, '"true"', id="bool-word"),
        pytest.param("1", None, False, '"1"', id="int-word"),
        pytest.param("", None, False, '""', id="empty"),
        pytest.param("#x", None, False, '"#x"', id="comment-start"),
        pytest.param("a: b", None, False, '"a: b"', id="colon-space"),
        pytest.param("it's", "'", False, "'it''s'", id="single-quote-doubled"),
        pytest.param('q"x\\', '"', False, '"q\\"x\\\\"', id="double-escapes"),
        pytest.param(
            "tab\there", "'", False, '"tab\\x09here"', id="control-falls-back"
        ),
        pytest.param("é/x", None, False, "é/x", id="non-ascii-plain"),
    ],
)
def test_render_scalar(value, style, flow, expected):
    assert render_scalar(value, style, flow) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("plain", id="plain"),
        pytest.param("\x00\x7f\u0085\u2028\ufeff", id="controls"),
        pytest.param("😀 \"'\\", id="astral-quotes"),
    ],
)
def test_double_quoted_round_trips(value):
    assert yaml.safe_load("v: " + double_quoted(value))["v"] == value


def test_replace_rejects_non_string_tag():
    stream = compose_stream("a: !!int 5\n", "test.yaml")
    key, node = _value_node(stream, "a")

    with pytest.raises(EditError, match="explicit tag"):
        replace_scalar(stream, node, "x", False, key)


def test_indexes_count_code_points():
    text = "é: 😀\nb: old\n"

    assert _set(text, ["b"], "new") == "é: 😀\nb: new\n"


def test_byte_order_mark_is_kept():
    text = "\ufeffa: old\nb: 1\n"

    assert _set(text, ["a"], "new") == "\ufeffa: new\nb: 1\n"


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param(
            "- name: X\n- name: Y\n",
            "- name: X\n  value: a=b,c\n- name: Y\n",
            id="block-in-sequence",
        ),
        pytest.param(
            "env:\n  - name: X # note\n  - name: Y\n",
            "env:\n  - name: X # note\n    value: a=b,c\n  - name: Y\n",
            id="comment-stays",
        ),
        pytest.param("- name: X", "- name: X\n  value: a=b,c", id="no-final-newline"),
        pytest.param(
            "- name: X\r\n- name: Y\r\n",
            "- name: X\r\n  value: a=b,c\r\n- name: Y\r\n",
            id="crlf",
        ),
        pytest.param("- {name: X}\n", '- {name: X, value: "a=b,c"}\n', id="flow"),
        pytest.param(
            "- {name: X, }\n",
            '- {name: X, value: "a=b,c", }\n',
            id="flow-trailing-comma",
        ),
        pytest.param(
            '- {"name": "X"}\n', '- {"name": "X", "value": "a=b,c"}\n', id="json-style"
        ),
        pytest.param(
            "- name: 'X'\n",
            "- name: 'X'\n  value: 'a=b,c'\n",
            id="single-quoted-neighbour",
        ),
        pytest.param(
            "-   name: X\n    other: 1\n",
            "-   name: X\n    other: 1\n    value: a=b,c\n",
            id="wide-indent",
        ),
        pytest.param(
            "- name: X\n  other:\n- name: Y\n",
            "- name: X\n  other:\n  value: a=b,c\n- name: Y\n",
            id="after-empty-value",
        ),
        pytest.param(
            "- name: |\n    X\n- name: Y\n",
            '- name: |\n    X\n  value: "a=b,c"\n- name: Y\n',
            id="after-block-scalar",
        ),
    ],
)
def test_append_mapping_entry(text, expected):
    stream = compose_stream(text, "test.yaml")
    sequence = stream.documents[0]
    if isinstance(sequence, yaml.MappingNode):
        sequence = sequence.value[0][1]
    mapping = sequence.value[0]

    result = apply_edits(
        text, [append_mapping_entry(stream, mapping, "value", "a=b,c", False)]
    )

    assert result == expected
    loaded = yaml.safe_load(result)
    entries = loaded["env"] if isinstance(loaded, dict) else loaded
    assert entries[0]["value"] == "a=b,c"


def test_apply_edits_splices_in_order():
    edits = [Edit(4, 5, "Z"), Edit(0, 1, "A"), Edit(2, 2, "+")]

    assert apply_edits("abcdef", edits) == "Ab+cdZf"


def test_apply_edits_counts_identical_edits_once():
    assert apply_edits("abc", [Edit(1, 2, "X"), Edit(1, 2, "X")]) == "aXc"


def test_apply_edits_rejects_overlap():
    with pytest.raises(EditError, match="overlap"):
        apply_edits("abcdef", [Edit(0, 3, "X"), Edit(2, 4, "Y")])


@pytest.mark.parametrize(
    "text, fragment",
    [
        pytest.param(
            "a: [1, 2\n", "line 2, column 1: not valid YAML", id="unclosed-flow"
        ),
        pytest.param(
            "a: b\n c: d\n", "line 2, column 3: not valid YAML", id="bad-indent"
        ),
        pytest.param("a: 'x\n", "not valid YAML", id="unclosed-quote"),
        pytest.param(
            "a: *missing\n", "line 1, column 4: not valid YAML", id="unknown-alias"
        ),
        pytest.param("a: \x00\n", "character '\\x00' is not allowed", id="nul"),
        pytest.param("a: b\n\x07\n", "line 2, column 1", id="bell"),
        pytest.param(
            "a: ééééé\nb: x\x07\n", "line 2, column 5", id="bell-after-non-ascii"
        ),
        pytest.param("[" * 5000 + "]" * 5000, "nesting", id="deep-nesting"),
    ],
)
def test_compose_errors_name_file_and_line(text, fragment):
    with pytest.raises(ManifestError) as raised:
        compose_stream(text, "bundle.yaml")

    assert str(raised.value).startswith("bundle.yaml: ")
    assert fragment in str(raised.value)


def test_compose_survives_stack_deep_nesting():
    # PyYAML 6.0.3's C loader overflows the C stack at about 60,000 levels.
    # A crash here would end the whole pytest process.
    text = "a: " + "[" * 100000 + "]" * 100000 + "\n"

    with pytest.raises(ManifestError) as raised:
        compose_stream(text, "deep.yaml")

    assert "nesting" in str(raised.value)


@pytest.mark.skipif(
    getattr(yaml, "CSafeLoader", None) is None, reason="PyYAML built without libyaml"
)
def test_loader_choice_without_c_limit(monkeypatch):
    # Pretend the C loader has no nesting limit, as in PyYAML 6.0.3: text that
    # may nest deeper than the threshold must go to the pure-Python loader.
    monkeypatch.setattr(manifest_yaml, "FastSafeLoader", yaml.CSafeLoader)
    monkeypatch.setitem(manifest_yaml._LOADER_LIMITS_NESTING, yaml.CSafeLoader, False)
    threshold = manifest_yaml.FLOW_NESTING_THRESHOLD
    shallow = "[" * threshold + "]" * threshold
    deep = "[" + shallow + "]"

    assert manifest_yaml._loader_for(shallow) is yaml.CSafeLoader
    assert manifest_yaml._loader_for(deep) is yaml.SafeLoader


def test_compose_without_pyyaml_names_the_fix(monkeypatch):
    # A None entry in sys.modules makes `import yaml` raise ImportError, as on
    # a managed node without PyYAML. The file is loaded again under another
    # name, so the copy that the other tests use keeps PyYAML.
    monkeypatch.setitem(sys.modules, "yaml", None)
    name = "manifest_yaml_without_pyyaml"
    spec = importlib.util.spec_from_file_location(name, manifest_yaml.__file__)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)

    with pytest.raises(module.ManifestError) as raised:
        module.compose_stream("a: 1\n", "job.yaml")

    assert str(raised.value) == (
        "reading job.yaml needs the Python package PyYAML on the host that runs "
        "the module. Install it (pip install PyYAML)."
    )


def test_comment_only_document_is_empty():
    stream = compose_stream("---\n# only a comment\n---\na: 1\n", "test.yaml")

    assert is_empty_document(stream.documents[0])
    assert not is_empty_document(stream.documents[1])


def test_mapping_entries_rejects_duplicate():
    stream = compose_stream("a: 1\nb: 2\na: 3\n", "test.yaml")

    with pytest.raises(DuplicateKeyError) as raised:
        mapping_entries(stream.documents[0])

    assert raised.value.key == "a"
    assert raised.value.second.start_mark.line == 2


def test_mapping_entries_applies_merge_keys():
    text = "base: &base {image: a, name: b}\nitem:\n  <<: *base\n  name: c\n"
    stream = compose_stream(text, "test.yaml")
    key, item = _value_node(stream, "item")

    entries = mapping_entries(item)

    assert entries["image"][1].value == "a"
    assert entries["name"][1].value == "c"


def test_mapping_entries_survives_self_merge():
    stream = compose_stream("a: &a\n  <<: *a\n  k: v\n", "test.yaml")
    key, node = _value_node(stream, "a")

    assert sorted(mapping_entries(node)) == ["k"]


@pytest.mark.parametrize(
    "path, expected",
    [
        pytest.param(
            ("spec", "containers", 0, "image"), "spec.containers[0].image", id="plain"
        ),
        pytest.param(
            ("metadata", "annotations", "a.b/c"),
            'metadata.annotations["a.b/c"]',
            id="dotted-key",
        ),
        pytest.param((), "(document root)", id="root"),
        pytest.param(("items", 3), "items[3]", id="index"),
    ],
)
def test_format_path(path, expected):
    assert format_path(path) == expected


@pytest.mark.parametrize(
    "flow", [pytest.param(False, id="block"), pytest.param(True, id="flow")]
)
def test_plain_fast_path_agrees_with_emitter(flow):
    # The regular expressions that skip the emitter's analysis must never
    # accept a string that the analysis rejects.
    rng = random.Random(7)
    alphabet = "ab1_./@=+,:-#'\"[]{}&*!|>%` \t?"
    accepted = 0
    for attempt in range(20000):
        value = "".join(rng.choice(alphabet) for position in range(rng.randint(0, 8)))
        simple = (
            manifest_yaml._SIMPLE_FLOW_PLAIN_RE
            if flow
            else manifest_yaml._SIMPLE_BLOCK_PLAIN_RE
        )
        if not simple.match(value):
            continue
        accepted += 1
        analysis = manifest_yaml._ANALYZER.analyze_scalar(value)
        allowed = analysis.allow_flow_plain if flow else analysis.allow_block_plain
        assert allowed and not analysis.multiline, value
    assert accepted > 100


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("abc\n", id="trailing-newline"),
        pytest.param('say "hi"', id="quotes"),
    ],
)
def test_double_quoted_fast_path_skips_special_values(value):
    assert yaml.safe_load("v: " + double_quoted(value))["v"] == value
