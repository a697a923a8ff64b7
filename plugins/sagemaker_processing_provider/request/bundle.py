"""``source_dir`` + ``requirements``: the SageMaker SDK ``FrameworkProcessor``'s code bundle and ``runproc.sh``.

The SDK's contract (v2 ``FrameworkProcessor._pack_and_upload_code`` / ``_generate_framework_script``,
v3 ``sagemaker.core.processing.FrameworkProcessor``): the code folder is packed as
``sourcedir.tar.gz`` into the ``code`` input (``/opt/ml/processing/input/code``), a generated
``runproc.sh`` goes into the ``entrypoint`` input, and the job runs ``/bin/bash runproc.sh <args>``,
which unpacks the bundle, ``pip install -r requirements.txt`` and then runs the script with the
job's arguments. Here both files are staged through the backend's stager, content-addressed: the
tarball is byte-for-byte reproducible (sorted entries, zeroed times and owners), so the same code
gives the same key and is uploaded once.

Differences from the SDK, on purpose: ``requirements`` may name any file (the SDK v2 only looks for
``requirements.txt``); a failed install writes pip's ``ERROR`` lines to ``/opt/ml/output/message``
(the job's ``ExitMessage``) instead of only the log; ``__pycache__``, ``*.pyc`` and ``.git`` are left
out of the bundle (they change without the code changing). PySpark: the script ends in
``smspark-submit``; ``runproc.sh`` runs on every host (SageMaker runs the entrypoint on each
instance), so the requirements are installed where every executor runs, and the unpacked folder is
zipped into ``--py-files`` so executors import its modules too; ``smspark-submit`` then starts from
the working directory the job started in (the image's), not from the code folder.
"""

from __future__ import annotations

import gzip
import io
import os
import shlex
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sagemaker_processing_provider.errors import RequestError
from sagemaker_processing_provider.request.common import CODE_DIR
from sagemaker_processing_provider.request.io import local_path, s3_input, staged
from sagemaker_processing_provider.request.stager import Stager

ENTRYPOINT_DIR = "/opt/ml/processing/input/entrypoint"
BUNDLE = "sourcedir.tar.gz"
RUNPROC = "runproc.sh"
SOURCE_ZIP = f"{ENTRYPOINT_DIR}/sourcedir.zip"
DEFAULT_REQUIREMENTS = "requirements.txt"
SKIPPED_DIRS = {"__pycache__", ".git"}


@dataclass(frozen=True)
class Bundle:
    """The inputs (``code``, ``entrypoint``) and the ``ContainerEntrypoint`` of a bundled job."""

    inputs: list[dict]
    entrypoint: list[str]


@dataclass(frozen=True)
class _Plan:
    script: str  # path of the script inside the bundle (posix, relative)
    requirements: str | None  # path of the requirements file inside the bundle
    required: bool  # fail when it is missing at run time (it was named or seen)


def wanted(source_dir: object, requirements: object) -> bool:
    return bool(source_dir) or bool(requirements)


def code_bundle(
    *,
    script: object,
    script_field: str,
    source_dir: object,
    requirements: object,
    stager: Stager,
    command: list[str],
    spark: bool = False,
) -> Bundle:
    """Pack, plan the staging of the bundle and ``runproc.sh``; ``command`` runs before the script.

    ``spark``: ``command`` is ``smspark-submit`` with its options; the unpacked folder is zipped and
    appended to its ``--py-files``.
    """
    if not isinstance(script, str | os.PathLike) or not os.fspath(script):
        raise RequestError(script_field, f"expected the script's path, got {script!r}")
    script = os.fspath(script)
    if isinstance(source_dir, str) and source_dir.startswith("s3://"):
        plan = _s3_plan(script, script_field, requirements)
        bundle_uri, bundle_name = _s3_bundle(source_dir)
    else:
        plan, files = _local_plan(script, script_field, source_dir, requirements)
        data = staged("source_dir", pack, files)
        bundle_uri, bundle_name = staged("source_dir", stager.stage_bytes, data, BUNDLE), BUNDLE
    text = runproc(plan, bundle_name, command, spark=spark)
    runproc_uri = staged("source_dir", stager.stage_bytes, text.encode(), RUNPROC)
    return Bundle(
        inputs=[s3_input("code", bundle_uri, CODE_DIR), s3_input("entrypoint", runproc_uri, ENTRYPOINT_DIR)],
        entrypoint=["/bin/bash", f"{ENTRYPOINT_DIR}/{RUNPROC}"],
    )


def _s3_bundle(uri: str) -> tuple[str, str]:
    name = uri.rstrip("/").rsplit("/", 1)[-1]
    if not name.endswith(".tar.gz") or uri.endswith("/"):
        raise RequestError("source_dir", f"an S3 source_dir must name a .tar.gz object, got {uri!r}")
    return uri, name


def _relative(text: str, field: str) -> str:
    path = PurePosixPath(text)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise RequestError(field, f"expected a path relative to source_dir, got {text!r}")
    return path.as_posix()


def _s3_plan(script: str, field: str, requirements: object) -> _Plan:
    """The bundle is already on S3: names inside it are taken on trust (checked when the job runs)."""
    if requirements is not None and not isinstance(requirements, str):
        raise RequestError("requirements", f"expected a path inside the bundle, got {requirements!r}")
    req = _relative(requirements, "requirements") if requirements else DEFAULT_REQUIREMENTS
    return _Plan(_relative(script, field), req, required=bool(requirements))


def _local_dir(source_dir: object) -> Path | None:
    if source_dir is None or source_dir == "":
        return None
    if not isinstance(source_dir, str | os.PathLike):
        raise RequestError("source_dir", f"expected a local folder or an s3:// URI, got {source_dir!r}")
    path = staged("source_dir", local_path, source_dir)
    if path is None or not path.expanduser().is_dir():
        raise RequestError(
            "source_dir", f"{os.fspath(source_dir)!r} is not a local folder (or s3://...tar.gz)"
        )
    return path.expanduser().resolve()


def _inside(path: Path, folder: Path) -> str | None:
    try:
        return path.resolve().relative_to(folder).as_posix()
    except ValueError:
        return None


def _local_file(text: object, field: str, folder: Path | None) -> tuple[str, Path]:
    """``(name in the bundle, file)``: relative to ``folder`` first, else a local path."""
    if not isinstance(text, str | os.PathLike) or not os.fspath(text):
        raise RequestError(field, f"expected a local file, got {text!r}")
    raw = os.fspath(text)
    if folder is not None and not os.path.isabs(raw) and (folder / raw).is_file():
        return _relative(Path(raw).as_posix(), field), folder / raw
    path = staged(field, local_path, raw)
    if path is None or not path.expanduser().is_file():
        where = f" (nor relative to source_dir {folder})" if folder else ""
        raise RequestError(field, f"{raw!r} is not a local file{where}")
    path = path.expanduser().resolve()
    inside = _inside(path, folder) if folder else None
    return (inside or path.name), path


def _local_plan(
    script: str, field: str, source_dir: object, requirements: object
) -> tuple[_Plan, dict[str, Path]]:
    folder = _local_dir(source_dir)
    if folder is None and script.startswith("s3://"):
        raise RequestError("requirements", f"needs a local {field} or a source_dir ({field} is on S3)")
    files = dir_files(folder) if folder else {}
    script_name, script_path = _local_file(script, field, folder)
    if folder is not None and script_name not in files:
        raise RequestError(field, f"{script!r} must be a file inside source_dir {str(folder)!r}")
    files.setdefault(script_name, script_path)
    req_name = None
    if requirements:
        req_name, req_path = _local_file(requirements, "requirements", folder)
        if files.get(req_name, req_path).resolve() != req_path:
            raise RequestError("requirements", f"source_dir already holds another file named {req_name!r}")
        files[req_name] = req_path
    elif DEFAULT_REQUIREMENTS in files:
        req_name = DEFAULT_REQUIREMENTS
    return _Plan(script_name, req_name, required=req_name is not None), files


def dir_files(folder: Path) -> dict[str, Path]:
    """``{posix relative path: file}`` under ``folder``, without caches and VCS folders."""
    found: dict[str, Path] = {}
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in names:
            path = Path(root, name)
            if name.endswith(".pyc") or not path.is_file():
                continue
            found[path.relative_to(folder).as_posix()] = path
    return found


def pack(files: dict[str, Path]) -> bytes:
    """A reproducible ``tar.gz``: sorted members, times/owners zeroed, modes 0644 or 0755 (executable)."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name in sorted(files):
            path = files[name]
            info = tarfile.TarInfo(name)
            info.size = path.stat().st_size
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            with open(path, "rb") as fh:
                tar.addfile(info, fh)
    return buffer.getvalue()


_HEADER = """#!/bin/bash
# Generated by airflow-provider-sagemaker-processing: the SageMaker SDK FrameworkProcessor's runproc.sh
# contract. Unpack the code bundle, install its requirements, then run the script with the job's arguments.
set -euo pipefail

fail() {  # the reason becomes the job's ExitMessage
    echo "$1" >&2
    mkdir -p /opt/ml/output
    printf '%s\\n' "${1:0:1000}" > /opt/ml/output/message
    exit 1
}

install_requirements() {
    local errors
    errors="$(mktemp)"
    echo "Installing $1 (python3 -m pip install -r $1)"
    if python3 -m pip install -r "$1" 2>"$errors"; then
        cat "$errors" >&2
        return
    fi
    cat "$errors" >&2
    reason="$( (grep -E '^ERROR' "$errors" || tail -n 3 "$errors") | sed -e 's/^ERROR: *//' | tr -s '\\n' ' ')"
    fail "$1 could not be installed: ${reason% }"
}
"""

_ZIP = """python3 - <<'PY'
import os, zipfile
with zipfile.ZipFile("@ZIP@", "w", zipfile.ZIP_DEFLATED, strict_timestamps=False) as archive:
    for root, dirs, files in os.walk("."):
        dirs.sort()
        for name in sorted(files):
            path = os.path.normpath(os.path.join(root, name))
            if path != "@BUNDLE@":
                archive.write(path)
PY
"""


def runproc(plan: _Plan, bundle_name: str, command: list[str], *, spark: bool = False) -> str:
    """The text of ``runproc.sh`` (deterministic: same plan, same bytes)."""
    q = shlex.quote
    lines = [_HEADER, 'start="$PWD"', f"cd {CODE_DIR}/", f"tar -xzf {q(bundle_name)}"]
    if plan.requirements:
        req = q(plan.requirements)
        lines.append(f"if [[ -f {req} ]]; then\n    install_requirements {req}")
        if plan.required:
            lines.append(f"else\n    fail {q(f'{plan.requirements} is not in the code bundle')}")
        lines.append("fi")
    argv = list(command)
    if spark:
        lines.append(_ZIP.replace("@ZIP@", SOURCE_ZIP).replace("@BUNDLE@", bundle_name).rstrip())
        lines.append(
            'cd "$start"  # Spark writes spark-warehouse/ and metastore_db/ in its working directory'
        )
        argv = with_py_file(argv, SOURCE_ZIP)
    script = f"{CODE_DIR}/{plan.script}"
    lines.append(f'exec {" ".join(q(a) for a in [*argv, script])} "$@"')
    return "\n".join(lines) + "\n"


def with_py_file(argv: list[str], path: str) -> list[str]:
    """``argv`` with ``path`` appended to its ``--py-files`` (added after the command if absent).

    Appended, not prepended: the Spark container's ``smspark-submit`` reads the scheme of the whole
    comma-separated value, so an ``s3://`` entry must stay first.
    """
    argv = list(argv)
    if "--py-files" in argv:
        i = argv.index("--py-files") + 1
        argv[i] = f"{argv[i]},{path}"
    else:
        argv[1:1] = ["--py-files", path]
    return argv
