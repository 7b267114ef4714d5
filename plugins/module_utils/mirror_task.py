# Copyright (c) 2026 the pko.airgap authors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run one image_mirror task from plain option values.

The pko.airgap.image_mirror module passes its parameters here unchanged.
This builds the skopeo runner, the registry API clients that check
manifests, the prefix matcher and the image list, validates them before
anything is copied, runs the mirror, and writes the progress and report
files. It has no Ansible import.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Mapping, Optional, Tuple

from ansible_collections.pko.airgap.plugins.module_utils.mirror import (
    Mirror,
    MirrorInputError,
    MirrorSettings,
    plan_items,
    write_json_atomic,
)
from ansible_collections.pko.airgap.plugins.module_utils.prefix_overrides import (
    PrefixMatcher,
    PrefixOverrideError,
)
from ansible_collections.pko.airgap.plugins.module_utils.registry_client import (
    DEFAULT_TIMEOUT as DEFAULT_HTTP_TIMEOUT,
)
from ansible_collections.pko.airgap.plugins.module_utils.registry_client import (
    ManifestInspector,
    RegistryClient,
)
from ansible_collections.pko.airgap.plugins.module_utils.registry_config import (
    RegistriesConf,
    registries_conf_paths,
)
from ansible_collections.pko.airgap.plugins.module_utils.skopeo import (
    DEFAULT_TIMEOUT,
    DESTINATION,
    SOURCE,
    RegistryOptions,
    Skopeo,
    SkopeoError,
)

# Errors in the task's input: the message names the value and the fix, and
# nothing has been copied when one is raised.
INPUT_ERRORS = (MirrorInputError, PrefixOverrideError, SkopeoError, ValueError)


class MirrorTaskError(Exception):
    """Invalid task input, raised before any image is copied."""


def registry_options(params: Mapping[str, object], side: str) -> RegistryOptions:
    """Return the RegistryOptions of ``side`` ("src" or "dest") from module parameters."""
    tls_verify = params.get("%s_tls_verify" % side)
    return RegistryOptions(
        tls_verify=True if tls_verify is None else bool(tls_verify),
        cert_dir=params.get("%s_cert_dir" % side) or None,
        username=params.get("%s_username" % side) or None,
        password=params.get("%s_password" % side) or None,
    )


def build_inspector(
    skopeo: Skopeo,
    params: Mapping[str, object],
    options: Mapping[str, RegistryOptions],
    client_factory: Callable[..., RegistryClient],
) -> ManifestInspector:
    """Return the manifest inspector: registry API clients per side, skopeo as fallback.

    ``options`` maps SOURCE and DESTINATION to their RegistryOptions. skopeo
    checks every registry that a registries.conf file (the
    ``registries_conf`` option, or skopeo's default files) configures.
    """
    command_timeout = float(params.get("command_timeout") or DEFAULT_TIMEOUT)
    timeout = min(command_timeout, DEFAULT_HTTP_TIMEOUT)
    authfile = params.get("authfile") or None
    clients = {
        side: client_factory(options[side], authfile=authfile, timeout=timeout)
        for side in (SOURCE, DESTINATION)
    }
    registries_conf = params.get("registries_conf") or None
    environ = os.environ
    home = environ.get("HOME") or os.path.expanduser("~")
    paths = registries_conf_paths(registries_conf, environ, home)
    # When a file named by the option or the variable is missing, skopeo runs
    # every check, so that its own error reports the file.
    named = registries_conf or environ.get("CONTAINERS_REGISTRIES_CONF")
    conf = RegistriesConf.from_files(paths, required=paths[:1] if named else ())
    return ManifestInspector(skopeo, clients, conf)


def prepare(
    params: Mapping[str, object],
    check_mode: bool,
    progress: Optional[Callable[[str], None]] = None,
    skopeo_factory: Optional[Callable[..., Skopeo]] = None,
    client_factory: Optional[Callable[..., RegistryClient]] = None,
) -> Tuple[Mirror, list]:
    """Validate ``params`` and return the mirror engine and the planned items.

    ``skopeo_factory`` and ``client_factory`` replace the skopeo runner and
    the registry API client, for tests. Raises MirrorTaskError with a
    message naming the bad value and the fix.
    """
    try:
        matcher = PrefixMatcher(params.get("overrides"))
        items = plan_items(params.get("images"), matcher)
        settings = MirrorSettings(
            parallel=params.get("parallel", 4),
            retries=params.get("retries", 3),
            retry_delay=float(params.get("retry_delay", 2.0)),
            check_mode=check_mode,
            pin_digest=bool(params.get("pin_digest")),
            package_closure=bool(params.get("package_closure")),
            recursive=bool(params.get("recursive")),
        )
        options = {
            SOURCE: registry_options(params, "src"),
            DESTINATION: registry_options(params, "dest"),
        }
        factory = Skopeo if skopeo_factory is None else skopeo_factory
        skopeo = factory(
            executable=params.get("executable") or None,
            source=options[SOURCE],
            destination=options[DESTINATION],
            authfile=params.get("authfile") or None,
            registries_conf=params.get("registries_conf") or None,
            timeout=float(params.get("command_timeout") or DEFAULT_TIMEOUT),
        )
    except INPUT_ERRORS as exc:
        raise MirrorTaskError(getattr(exc, "message", None) or str(exc)) from None

    if settings.recursive and not settings.package_closure:
        raise MirrorTaskError(
            "recursive needs package_closure. Set package_closure: true, or drop "
            "recursive."
        )
    inspector = build_inspector(
        skopeo,
        params,
        options,
        RegistryClient if client_factory is None else client_factory,
    )
    mirror = Mirror(skopeo, settings, matcher, progress=progress, inspector=inspector)
    return mirror, items


def run_mirror_task(
    params: Mapping[str, object],
    check_mode: bool,
    log: Optional[Callable[[str], None]] = None,
    skopeo_factory: Optional[Callable[..., Skopeo]] = None,
    client_factory: Optional[Callable[..., RegistryClient]] = None,
) -> Tuple[dict, Optional[str]]:
    """Mirror the images of one task; return the result and a failure message or None.

    Invalid input returns a failure message before anything is copied or
    written. Progress lines go to ``log`` and, when ``progress_file`` is set, are
    appended to that file as they happen. The count of manifest checks per
    path goes to ``log`` only. The report, when ``report`` is
    set, is written at the end, also in check mode and after failures.
    """
    try:
        mirror, items = prepare(
            params,
            check_mode,
            skopeo_factory=skopeo_factory,
            client_factory=client_factory,
        )
    except MirrorTaskError as exc:
        return {"changed": False, "images": []}, str(exc)

    progress_path = params.get("progress_file")
    stream = None
    if progress_path:
        try:
            stream = open(progress_path, "a", encoding="utf-8")
        except OSError as exc:
            return {"changed": False, "images": []}, (
                "failed to open progress_file %s: %s. Create its directory or "
                "choose another path." % (progress_path, exc.strerror or exc)
            )

    def progress(line: str) -> None:
        stamped = "%s %s" % (time.strftime("%Y-%m-%dT%H:%M:%S%z"), line)
        if stream is not None:
            stream.write(stamped + "\n")
            stream.flush()
        if log is not None:
            log(line)

    mirror.progress = progress
    try:
        progress("mirror started: %d listed images%s" % (len(items), _mode(mirror)))
        outcome = mirror.run(items)
        if log is not None:
            # The system log only: the progress file keeps one line per image
            # plus the start and total lines.
            log(mirror.inspector.summary())
        for line in outcome.summary_lines()[-1:]:
            progress(line)
    finally:
        mirror.inspector.close()
        if stream is not None:
            stream.close()

    result = outcome.as_dict()
    result["env_value"] = mirror.matcher.env_value
    result["manifest_checks"] = mirror.inspector.as_dict()
    result["check_mode"] = check_mode
    failure = outcome.failure_message()
    if params.get("report"):
        try:
            write_json_atomic(params["report"], result)
        except (MirrorInputError, OSError) as exc:
            # The images are mirrored already, so the result is still returned.
            report_error = "failed to write report %s: %s" % (params["report"], exc)
            failure = (
                report_error if failure is None else failure + " | " + report_error
            )
    return result, failure


def _mode(mirror: Mirror) -> str:
    flags = []
    if mirror.settings.check_mode:
        flags.append("check mode")
    if mirror.settings.package_closure:
        flags.append("package closure")
    return " (%s)" % ", ".join(flags) if flags else ""


__all__ = ["MirrorTaskError", "prepare", "run_mirror_task"]
