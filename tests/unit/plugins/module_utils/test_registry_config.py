# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for reading auth files, registries.conf files and cert_dir."""

import base64
import json
import os
import ssl
import sys

import pytest

from ansible_collections.pko.airgap.plugins.module_utils.registry_config import (
    Credentials,
    RegistriesConf,
    UnsupportedConfigError,
    auth_file_paths,
    default_cert_dir,
    find_credentials,
    registries_conf_paths,
    scan_registries_conf,
    tls_context,
)

TESTS_DIR = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

from localenv.registry import make_tls_files  # noqa: E402


def auth(username, password):
    return {
        "auth": base64.b64encode(("%s:%s" % (username, password)).encode()).decode()
    }


def write_json(path, document):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return str(path)


# auth_file_paths


def test_auth_paths_default_order(tmp_path):
    home = str(tmp_path)
    paths = auth_file_paths(None, {"XDG_RUNTIME_DIR": home}, home, 1000)
    assert paths == [
        (os.path.join(home, "containers", "auth.json"), False),
        (os.path.join(home, ".config", "containers", "auth.json"), False),
        (os.path.join(home, ".docker", "config.json"), False),
        (os.path.join(home, ".dockercfg"), True),
    ]


def test_auth_paths_authfile_first(tmp_path):
    paths = auth_file_paths("/etc/auth.json", {}, str(tmp_path), 0)
    assert paths[0] == ("/etc/auth.json", False)


def test_auth_paths_registry_auth_file_variable(tmp_path):
    paths = auth_file_paths(None, {"REGISTRY_AUTH_FILE": "/a.json"}, str(tmp_path), 0)
    assert paths[0] == ("/a.json", False)


def test_auth_paths_without_runtime_dir_use_run(tmp_path):
    paths = auth_file_paths(None, {}, str(tmp_path), 1234)
    assert paths[0] == ("/run/containers/1234/auth.json", False)


def test_auth_paths_missing_runtime_dir_skipped(tmp_path):
    missing = str(tmp_path / "missing")
    paths = auth_file_paths(None, {"XDG_RUNTIME_DIR": missing}, str(tmp_path), 0)
    assert paths[0][0] == os.path.join(
        str(tmp_path), ".config", "containers", "auth.json"
    )


def test_auth_paths_docker_config_variable(tmp_path):
    paths = auth_file_paths(None, {"DOCKER_CONFIG": "/dc"}, str(tmp_path), 0)
    assert ("/dc/config.json", False) in paths


# find_credentials

REGISTRY = "registry.test:5000"
NAME = "registry.test:5000/team/app"


@pytest.mark.parametrize(
    "entries, expected",
    [
        ({REGISTRY: auth("host", "pw1")}, "host"),
        ({REGISTRY: auth("host", "pw1"), NAME: auth("repo", "pw2")}, "repo"),
        (
            {
                REGISTRY: auth("host", "pw1"),
                "registry.test:5000/team": auth("ns", "pw3"),
            },
            "ns",
        ),
        ({"https://registry.test:5000/v1/": auth("url", "pw4")}, "url"),
        ({"registry.test:5000/other": auth("other", "pw5")}, None),
    ],
    ids=["registry", "repository-wins", "namespace-wins", "url-key", "other-repo"],
)
def test_find_credentials_keys(tmp_path, entries, expected):
    path = write_json(tmp_path / "auth.json", {"auths": entries})
    found = find_credentials(REGISTRY, NAME, [(path, False)])
    assert (found.username if found else None) == expected


def test_find_credentials_docker_hub_legacy_key(tmp_path):
    path = write_json(
        tmp_path / "config.json",
        {"auths": {"https://index.docker.io/v1/": auth("hub", "pw")}},
    )
    found = find_credentials("docker.io", "docker.io/library/nginx", [(path, False)])
    assert found == Credentials("hub", "pw")


def test_find_credentials_first_file_wins(tmp_path):
    first = write_json(tmp_path / "a.json", {"auths": {REGISTRY: auth("first", "1")}})
    second = write_json(tmp_path / "b.json", {"auths": {REGISTRY: auth("second", "2")}})
    found = find_credentials(REGISTRY, NAME, [(first, False), (second, False)])
    assert found.username == "first"


def test_find_credentials_skips_missing_file(tmp_path):
    second = write_json(tmp_path / "b.json", {"auths": {REGISTRY: auth("second", "2")}})
    found = find_credentials(
        REGISTRY, NAME, [(str(tmp_path / "none.json"), False), (second, False)]
    )
    assert found.username == "second"


def test_find_credentials_entry_without_password_skipped(tmp_path):
    first = write_json(
        tmp_path / "a.json",
        {"auths": {REGISTRY: {"auth": base64.b64encode(b"user:").decode()}}},
    )
    second = write_json(tmp_path / "b.json", {"auths": {REGISTRY: auth("second", "2")}})
    found = find_credentials(REGISTRY, NAME, [(first, False), (second, False)])
    assert found.username == "second"


def test_find_credentials_legacy_format(tmp_path):
    path = write_json(tmp_path / ".dockercfg", {REGISTRY: auth("legacy", "pw")})
    assert find_credentials(REGISTRY, NAME, [(path, True)]).username == "legacy"


def test_find_credentials_none(tmp_path):
    path = write_json(tmp_path / "auth.json", {"auths": {}})
    assert find_credentials(REGISTRY, NAME, [(path, False)]) is None


def test_credentials_repr_hides_password():
    assert "s3cret" not in repr(Credentials("bob", "s3cret"))


@pytest.mark.parametrize(
    "document, message",
    [
        (
            {"credHelpers": {REGISTRY: "pass"}},
            "auth file {path} names a credential helper for registry.test:5000",
        ),
        (
            {"auths": {REGISTRY: {"auth": "", "identitytoken": "t"}}},
            "auth file {path} has an identity token for registry.test:5000",
        ),
        (
            {"auths": {REGISTRY: {"auth": "not base64!"}}},
            "auth file {path} has an 'auth' value that is not base64",
        ),
        ({"auths": []}, "auth file {path} has an 'auths' value that is not a mapping"),
        ([], "auth file {path} is not a JSON object"),
    ],
    ids=[
        "credential-helper",
        "identity-token",
        "bad-base64",
        "auths-list",
        "not-object",
    ],
)
def test_find_credentials_unsupported(tmp_path, document, message):
    path = write_json(tmp_path / "auth.json", document)
    with pytest.raises(UnsupportedConfigError) as caught:
        find_credentials(REGISTRY, NAME, [(path, False)])
    assert str(caught.value) == message.format(path=path)


def test_find_credentials_helper_of_other_registry_ignored(tmp_path):
    path = write_json(
        tmp_path / "auth.json",
        {"credHelpers": {"quay.io": "pass"}, "auths": {REGISTRY: auth("a", "b")}},
    )
    assert find_credentials(REGISTRY, NAME, [(path, False)]).username == "a"


def test_find_credentials_invalid_json(tmp_path):
    path = tmp_path / "auth.json"
    path.write_text("{not json")
    with pytest.raises(UnsupportedConfigError) as caught:
        find_credentials(REGISTRY, NAME, [(str(path), False)])
    assert str(caught.value).startswith("failed to read auth file %s: " % path)


# registries.conf

REDIRECT = """
# Pulls of quay.io/package-operator go to a local registry.
[[registry]]
prefix = "quay.io/package-operator"
location = "127.0.0.1:5001/package-operator"  # trailing comment
insecure = true

[[registry.mirror]]
location = "mirror.test:443/pko"
"""


@pytest.mark.parametrize(
    "text, hosts, suffixes",
    [
        (REDIRECT, {"quay.io"}, set()),
        ('[[registry]]\nlocation = "registry.test:5000"\n', {"registry.test"}, set()),
        (
            "[[registry]]\nprefix = '*.example.com'\nblocked = true\n",
            set(),
            {"example.com"},
        ),
        (
            '[registries.insecure]\nregistries = [\n  "a.test:5000",\n  "b.test",\n]\n'
            '[registries.search]\nregistries = ["docker.io"]\n',
            {"a.test", "b.test"},
            set(),
        ),
        (
            'unqualified-search-registries = ["docker.io"]\nshort-name-mode = "enforcing"\n'
            'credential-helpers = ["containers-auth.json"]\n'
            '[aliases]\n"fedora" = "registry.fedoraproject.org/fedora"\n',
            set(),
            set(),
        ),
        (
            '[[registry]]\nprefix = "index.docker.io/library"\n'
            '[[registry]]\nprefix = "c.test"\nmirror = [{location = "m.test"}]\n',
            {"docker.io", "c.test"},
            set(),
        ),
        ("# only comments\n\n", set(), set()),
    ],
    ids=[
        "redirect-with-mirror",
        "location-only",
        "wildcard",
        "v1-lists",
        "defaults-and-aliases",
        "docker-hub-and-inline-mirror",
        "empty",
    ],
)
def test_scan_registries_conf(text, hosts, suffixes):
    assert scan_registries_conf(text) == (hosts, suffixes)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            'credential-helpers = ["secretservice"]\n',
            "credential helpers secretservice are set",
        ),
        (
            'registry = [{prefix = "a.test"}]\n',
            "inline registry tables are not supported",
        ),
        (
            "[[registry]]\ninsecure = true\n",
            "a [[registry]] table has neither prefix nor location",
        ),
        (
            '[[registry]]\nprefix = """a.test"""\n',
            "multi-line strings are not supported",
        ),
        ('[[registry]]\nprefix = "a.test\n', "a string is not closed"),
        (
            '[registries.insecure]\nregistries = ["a.test"\n',
            "an array or inline table is not closed",
        ),
        ('[[registry]\nprefix = "a"\n', "unsupported table header [[registry]"),
        (
            '[[registry]]\nregistry.prefix = "a"\n',
            'unsupported line registry.prefix = "a"',
        ),
        ("[[registry]]\nprefix = 42\n", "expected a string, got 42"),
    ],
    ids=[
        "credential-helper",
        "inline-registry",
        "no-prefix",
        "multi-line-string",
        "open-string",
        "open-array",
        "bad-header",
        "dotted-key",
        "prefix-not-string",
    ],
)
def test_scan_registries_conf_rejects(text, message):
    with pytest.raises(ValueError) as caught:
        scan_registries_conf(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "registry, configured",
    [
        ("quay.io", True),
        ("quay.io:443", True),
        ("a.example.com:5000", True),
        ("example.com", False),
        ("127.0.0.1:5001", False),
    ],
    ids=["host", "host-with-port", "wildcard", "wildcard-base", "location-host"],
)
def test_registries_conf_configures(tmp_path, registry, configured):
    path = tmp_path / "registries.conf"
    path.write_text(REDIRECT + '[[registry]]\nprefix = "*.example.com"\n')
    conf = RegistriesConf.from_files([str(path)])
    assert conf.configures(registry) is configured


def test_registries_conf_missing_required_file(tmp_path):
    missing = str(tmp_path / "missing.conf")
    conf = RegistriesConf.from_files([missing], required=[missing])
    assert conf.configures("any.test")
    assert conf.reason == "%s does not exist" % missing


def test_registries_conf_missing_default_file_ignored(tmp_path):
    conf = RegistriesConf.from_files([str(tmp_path / "missing.conf")])
    assert not conf.configures("any.test")


def test_registries_conf_unparsed_file_configures_everything(tmp_path):
    path = tmp_path / "registries.conf"
    path.write_text('credential-helpers = ["pass"]\n')
    conf = RegistriesConf.from_files([str(path)])
    assert conf.configures("any.test")
    assert conf.reason == "%s: credential helpers pass are set" % path


def test_registries_conf_paths_with_option(tmp_path):
    system = tmp_path / "etc"
    (system / "registries.conf.d").mkdir(parents=True)
    (system / "registries.conf.d" / "10-a.conf").write_text("")
    (system / "registries.conf.d" / "notes.txt").write_text("")
    paths = registries_conf_paths("/my.conf", {}, str(tmp_path), str(system))
    assert paths == ["/my.conf", str(system / "registries.conf.d" / "10-a.conf")]


def test_registries_conf_paths_default(tmp_path):
    system = tmp_path / "etc"
    paths = registries_conf_paths(None, {}, str(tmp_path), str(system))
    assert paths == [
        str(tmp_path / ".config" / "containers" / "registries.conf"),
        str(system / "registries.conf"),
    ]


def test_registries_conf_paths_environment(tmp_path):
    environ = {"CONTAINERS_REGISTRIES_CONF": "/env.conf"}
    paths = registries_conf_paths(None, environ, str(tmp_path), str(tmp_path))
    assert paths == ["/env.conf"]


# Certificates


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    return make_tls_files(str(tmp_path_factory.mktemp("pki")))


def test_tls_context_adds_ca(tls_files):
    context = tls_context(True, tls_files.cert_dir)
    subjects = [
        dict(item[0] for item in cert["subject"]) for cert in context.get_ca_certs()
    ]
    assert {"commonName": "pko-airgap test CA"} in subjects


def test_tls_context_without_verify():
    context = tls_context(False, None)
    assert context.verify_mode == ssl.CERT_NONE


def test_tls_context_missing_dir_is_default(tmp_path):
    context = tls_context(True, str(tmp_path / "missing"))
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_tls_context_rejects_mismatched_client_pair(tls_files, tmp_path):
    ca_key = os.path.join(os.path.dirname(tls_files.server_key), "ca.key")
    with open(tls_files.server_cert, "rb") as handle:
        (tmp_path / "client.cert").write_bytes(handle.read())
    with open(ca_key, "rb") as handle:
        (tmp_path / "client.key").write_bytes(handle.read())
    with pytest.raises(UnsupportedConfigError) as caught:
        tls_context(True, str(tmp_path))
    assert str(caught.value).startswith(
        "failed to load certificates from cert_dir %s: " % tmp_path
    )


def test_tls_context_key_without_cert(tmp_path):
    (tmp_path / "client.key").write_text("key")
    with pytest.raises(UnsupportedConfigError) as caught:
        tls_context(True, str(tmp_path))
    assert str(caught.value) == "client key %s has no certificate" % (
        tmp_path / "client.key"
    )


def test_tls_context_bad_ca_file(tmp_path):
    (tmp_path / "ca.crt").write_text("not a certificate")
    with pytest.raises(UnsupportedConfigError) as caught:
        tls_context(True, str(tmp_path))
    assert str(caught.value).startswith(
        "failed to load certificates from cert_dir %s: " % tmp_path
    )


def test_default_cert_dir_user_first(tmp_path):
    user = tmp_path / ".config" / "containers" / "certs.d" / "registry.test:5000"
    user.mkdir(parents=True)
    assert default_cert_dir("registry.test:5000", str(tmp_path), 1000) == str(user)


def test_default_cert_dir_root_skips_user_dir(tmp_path):
    user = tmp_path / ".config" / "containers" / "certs.d" / "registry.test:5000"
    user.mkdir(parents=True)
    assert default_cert_dir("registry.test:5000", str(tmp_path), 0) != str(user)
