# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import importlib.util
import os
import shutil
import stat

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.pko.airgap.plugins.modules import manifest_prefix_override

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
FIXTURE = os.path.join(TESTS_DIR, "fixtures", "pko-v1.18.2", "self-bootstrap-job.yaml")
CORPUS = os.path.join(TESTS_DIR, "unit", "corpus", "bad_inputs.py")
OVERRIDES = "quay.io/package-operator/=127.0.0.1:5000/pko/"


def _load_corpus():
    spec = importlib.util.spec_from_file_location("bad_inputs", CORPUS)
    corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(corpus)
    return corpus


BAD_INPUTS = _load_corpus().CASES


class ModuleExit(Exception):
    """The module called exit_json or fail_json with ``result`` as its arguments."""

    def __init__(self, result):
        super().__init__(result)
        self.result = result


def _exit_json(self, **kwargs):
    kwargs.setdefault("changed", False)
    raise ModuleExit(kwargs)


def _fail_json(self, msg, **kwargs):
    kwargs.update(msg=msg, failed=True)
    raise ModuleExit(kwargs)


def run_module(monkeypatch, params, check_mode=False, diff=False):
    """Run the module's main() and return its result.

    An exception other than the exit_json or fail_json call fails the test.
    """
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", _exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", _fail_json)
    monkeypatch.setattr(
        basic.AnsibleModule, "warn", lambda self, message: warnings.append(message)
    )
    args = dict(params, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(ModuleExit) as raised:
            manifest_prefix_override.main()
    result = raised.value.result
    result["warnings"] = warnings
    return result


def _snapshot(directory):
    """Return the bytes and modification time of every file under ``directory``."""
    files = {}
    for root, subdirectories, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                files[path] = (handle.read(), os.stat(path).st_mtime_ns)
    return files


@pytest.fixture
def job_file(tmp_path):
    path = tmp_path / "job.yaml"
    shutil.copyfile(FIXTURE, path)
    return str(path)


def _read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case.id for case in BAD_INPUTS])
def test_bad_input_fails_cleanly(case, tmp_path, monkeypatch):
    source = tmp_path / "src.yaml"
    data = (
        case.manifest
        if isinstance(case.manifest, bytes)
        else case.manifest.encode("utf-8")
    )
    source.write_bytes(data)
    params = {"src": str(source), "overrides": case.overrides}
    params.update(
        {
            key: (
                value.replace("{tmp}", str(tmp_path))
                if isinstance(value, str)
                else value
            )
            for key, value in case.params.items()
        }
    )
    before = _snapshot(tmp_path)

    result = run_module(monkeypatch, params)

    assert result.get("failed") is True
    for fragment in case.fragments:
        assert fragment.replace("{tmp}", str(tmp_path)) in result["msg"]
    assert len(result["msg"]) < 2000
    assert "Traceback" not in result["msg"]
    assert _snapshot(tmp_path) == before


def test_corpus_has_at_least_forty_cases():
    assert len(BAD_INPUTS) >= 40
    assert len({case.id for case in BAD_INPUTS}) == len(BAD_INPUTS)


def test_rewrites_file_in_place(job_file, monkeypatch):
    original = _read(job_file)

    result = run_module(monkeypatch, {"src": job_file, "overrides": OVERRIDES})

    assert result["changed"] is True
    assert result["dest"] == job_file
    assert result["env_value"] == OVERRIDES
    assert [rewrite["path"] for rewrite in result["rewrites"]] == [
        "spec.template.spec.containers[0].image",
        "spec.template.spec.containers[0].args[0]",
        "spec.template.spec.containers[0].env[1].value",
    ]
    text = _read(job_file)
    assert text != original
    assert '"127.0.0.1:5000/pko/package-operator-manager:v1.18.2"' in text
    assert "backup_file" not in result
    assert sorted(os.listdir(os.path.dirname(job_file))) == ["job.yaml"]


def test_second_run_reports_no_change(job_file, monkeypatch):
    run_module(monkeypatch, {"src": job_file, "overrides": OVERRIDES})
    before = _snapshot(os.path.dirname(job_file))

    result = run_module(monkeypatch, {"src": job_file, "overrides": OVERRIDES})

    assert result["changed"] is False
    assert result["rewrites"] == []
    assert _snapshot(os.path.dirname(job_file)) == before


def test_check_mode_writes_nothing(job_file, monkeypatch):
    before = _snapshot(os.path.dirname(job_file))

    result = run_module(
        monkeypatch, {"src": job_file, "overrides": OVERRIDES}, check_mode=True
    )

    assert result["changed"] is True
    assert len(result["rewrites"]) == 3
    assert _snapshot(os.path.dirname(job_file)) == before


def test_diff_mode_shows_before_and_after(job_file, monkeypatch):
    original = _read(job_file)

    result = run_module(
        monkeypatch,
        {"src": job_file, "overrides": OVERRIDES},
        check_mode=True,
        diff=True,
    )

    assert result["diff"]["before"] == original
    assert result["diff"]["after"] != original
    assert result["diff"]["before_header"] == job_file


def test_backup_keeps_original(job_file, monkeypatch):
    original = _read(job_file)

    result = run_module(
        monkeypatch, {"src": job_file, "overrides": OVERRIDES, "backup": True}
    )

    assert os.path.dirname(result["backup_file"]) == os.path.dirname(job_file)
    assert _read(result["backup_file"]) == original


def test_keeps_file_mode(job_file, monkeypatch):
    os.chmod(job_file, 0o640)

    run_module(monkeypatch, {"src": job_file, "overrides": OVERRIDES})

    assert stat.S_IMODE(os.stat(job_file).st_mode) == 0o640


def test_writes_separate_dest(job_file, tmp_path, monkeypatch):
    original = _read(job_file)
    dest = str(tmp_path / "out.yaml")

    first = run_module(
        monkeypatch, {"src": job_file, "dest": dest, "overrides": OVERRIDES}
    )
    second = run_module(
        monkeypatch, {"src": job_file, "dest": dest, "overrides": OVERRIDES}
    )

    assert first["changed"] is True
    assert second["changed"] is False
    assert _read(job_file) == original
    assert "127.0.0.1:5000/pko/" in _read(dest)
    assert len(second["rewrites"]) == 3


def test_content_returns_text(monkeypatch):
    original = _read(FIXTURE)

    result = run_module(monkeypatch, {"content": original, "overrides": OVERRIDES})

    assert result["changed"] is True
    assert result["dest"] is None
    assert "127.0.0.1:5000/pko/package-operator-manager" in result["content"]


def test_content_with_dest_writes_file(tmp_path, monkeypatch):
    dest = str(tmp_path / "out.yaml")

    result = run_module(
        monkeypatch, {"content": _read(FIXTURE), "dest": dest, "overrides": OVERRIDES}
    )

    assert result["changed"] is True
    assert _read(dest) == result["content"]


def test_overrides_as_list(job_file, monkeypatch):
    rules = [{"from": "quay.io/package-operator/", "to": "127.0.0.1:5000/pko/"}]

    result = run_module(monkeypatch, {"src": job_file, "overrides": rules})

    assert result["env_value"] == OVERRIDES


def test_lint_warnings_are_returned(job_file, monkeypatch):
    result = run_module(
        monkeypatch,
        {
            "src": job_file,
            "overrides": "quay.io/package-operator/=quay.io/package-operator/m/",
        },
    )

    assert [item["code"] for item in result["lint"]] == ["to-extends-from"]
    assert result["warnings"] == [item["message"] for item in result["lint"]]


@pytest.mark.parametrize(
    "params, message",
    [
        pytest.param(
            {"overrides": OVERRIDES},
            "one of the following is required: src, content",
            id="no-input",
        ),
        pytest.param(
            {"src": "a.yaml", "content": "x", "overrides": OVERRIDES},
            "parameters are mutually exclusive: src|content",
            id="both-inputs",
        ),
        pytest.param(
            {"src": "a.yaml"},
            "missing required arguments: overrides",
            id="no-overrides",
        ),
    ],
)
def test_argument_errors(params, message, monkeypatch):
    result = run_module(monkeypatch, params)

    assert result["failed"] is True
    assert message in result["msg"]
