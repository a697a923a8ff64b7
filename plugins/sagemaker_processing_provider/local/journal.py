"""The publish journal: a crash at any moment of an EndOfJob publish can be finished or undone.

``jobs/<name>/publish.json`` (atomic, fsync'd) describes the publish before anything at a destination
changes, with ``phase`` ``prepare`` (copying into scratch: nothing published yet), ``commit`` (moving
into place) or ``rollback``. Each output is either

- ``local``: the job's files are copied into ``scratch/new/`` (a hidden sibling of a destination that
  does not exist yet, or a hidden folder inside an existing one: same filesystem either way), then
  moved in by renames; a user's file the job replaces goes to ``scratch/replaced/`` first. A file at the
  destination whose (device, inode) the journal recorded is the job's, so every step is recognisable on
  disk and :func:`forward` / :func:`back` are idempotent: run again after any crash, they converge.
- ``s3``: objects the job will overwrite are first downloaded into the job folder; :func:`back` deletes
  the keys the job created and uploads those objects again, :func:`forward` uploads everything again.

:func:`discard` removes scratch and backups once the job's final status is written; the journal goes
last. Who finishes an interrupted publish: the runner, its watchdog, or the next describe/list.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sagemaker_processing_provider.local import failpoints, safefs

logger = logging.getLogger(__name__)

JOURNAL = "publish.json"
S3Factory = Callable[[], Any]
Tick = Callable[[], None] | None  # called between steps; raises to abort (a stop request)


def save(job_dir: Path, plan: dict[str, Any]) -> None:
    """Write the journal: temp file, fsync (it must be on disk before any user file moves), rename."""
    path = job_dir / JOURNAL
    tmp = job_dir / f".{JOURNAL}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as fh:
            json.dump(plan, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load(job_dir: Path) -> dict[str, Any] | None:
    try:
        with open(job_dir / JOURNAL) as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None


def remove(job_dir: Path) -> None:
    (job_dir / JOURNAL).unlink(missing_ok=True)


def identity(path: Path) -> list[int] | None:
    """(device, inode) of ``path`` itself (a symlink is not followed), or None when absent."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return [st.st_dev, st.st_ino]


def _mkdirs(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)


# ------------------------------------------------------------------------------------------- local


def local_forward(out: dict[str, Any], tick: Tick = None) -> None:
    """Move every file of the output into place (what is already there is left as it is)."""
    dest, new = Path(out["dest"]), Path(out["scratch"]) / "new"
    if out.get("whole") and new.is_dir() and not os.path.lexists(dest):
        with contextlib.suppress(OSError):  # taken meanwhile (a concurrent publish): merge file by file
            os.rename(new, dest)  # the common case: the whole output appears at once
            failpoints.hit("publish-whole")
            return
    for i, (rel, ident) in enumerate(sorted(out["files"].items())):
        if tick and i % 64 == 0:
            tick()
        target, staged = dest / rel, new / rel
        if identity(target) == ident or not os.path.lexists(staged):
            continue
        _mkdirs(target.parent)
        if os.path.lexists(target):
            if os.path.isdir(target) and not os.path.islink(target):
                raise OSError(f"{target} is a folder where the job writes a file")
            backup = Path(out["scratch"]) / "replaced" / rel
            if not os.path.lexists(backup):  # the user's file goes aside, to be restored on rollback
                _mkdirs(backup.parent)
                with contextlib.suppress(FileNotFoundError):  # a concurrent publish moved it first
                    os.rename(target, backup)
        os.replace(staged, target)
        failpoints.hit("publish-move", i + 1)


def local_back(out: dict[str, Any]) -> None:
    """Take the job's files out again and put the user's files back; remove the folders it made."""
    dest, scratch = Path(out["dest"]), Path(out["scratch"])
    for rel, ident in sorted(out.get("files", {}).items()):
        target = dest / rel
        if ident and identity(target) == ident:
            _mkdirs((scratch / "new" / rel).parent)
            os.rename(target, scratch / "new" / rel)
    replaced = scratch / "replaced"
    if replaced.is_dir():
        for rel in list(safefs.regular_files(replaced, "", "rollback")):
            target = dest / rel
            if not os.path.lexists(target):
                _mkdirs(target.parent)
                os.rename(replaced / rel, target)
            else:
                logger.warning("%s was written by someone else meanwhile; keeping it", target)
    for folder in sorted(out.get("dirs", []), key=lambda d: d.count("/"), reverse=True):
        with contextlib.suppress(OSError):
            os.rmdir(folder)  # only when empty: never a folder holding someone's files


def local_discard(out: dict[str, Any]) -> None:
    scratch = Path(out["scratch"])
    if os.path.isdir(scratch) and not os.path.islink(scratch):
        shutil.rmtree(scratch, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- s3


def s3_forward(out: dict[str, Any], s3: S3Factory, tick: Tick = None) -> None:
    from sagemaker_processing_provider.local.transfer import parallel, upload_source

    client = s3()

    def one(rel: str) -> None:
        if tick:
            tick()
        root, sub = out["sources"][rel]
        upload_source(client, Path(root), sub, out["bucket"], out["keys"][rel], f"output {out['name']!r}")
        failpoints.hit("publish-upload")

    parallel(one, sorted(out["keys"]))


def s3_back(out: dict[str, Any], s3: S3Factory, uploaded: bool) -> None:
    from sagemaker_processing_provider.local.transfer import upload_source

    bucket = out["bucket"]
    if uploaded:
        for key in out.get("created", []):
            with contextlib.suppress(UnicodeError, ValueError):  # a key S3 cannot even name was never written
                s3().delete_object(Bucket=bucket, Key=key)
    for rel, path in sorted(out.get("backups", {}).items()):
        backup = Path(path)
        upload_source(s3(), backup.parent, backup.name, bucket, out["keys"][rel], f"output {out['name']!r}")


def s3_discard(out: dict[str, Any]) -> None:
    if out.get("backup_dir"):
        shutil.rmtree(out["backup_dir"], ignore_errors=True)


# -------------------------------------------------------------------------------------------- plan


def forward_one(out: dict[str, Any], s3: S3Factory, tick: Tick = None) -> None:
    local_forward(out, tick) if out["kind"] == "local" else s3_forward(out, s3, tick)


def forward(plan: dict[str, Any], s3: S3Factory, tick: Tick = None) -> None:
    for out in plan["outputs"]:
        forward_one(out, s3, tick)


def back(plan: dict[str, Any], s3: S3Factory) -> None:
    """Undo the publish; safe in any phase (in ``prepare`` nothing reached a destination)."""
    uploaded = plan["phase"] != "prepare"
    errors = []
    for out in reversed(plan["outputs"]):
        try:
            local_back(out) if out["kind"] == "local" else s3_back(out, s3, uploaded)
        except Exception as exc:  # undo the others; report what could not be undone
            logger.error("Could not undo output %r: %s", out.get("name"), exc)
            errors.append(exc)
    if errors:
        raise errors[0]


def discard(plan: dict[str, Any]) -> None:
    for out in plan["outputs"]:
        local_discard(out) if out["kind"] == "local" else s3_discard(out)


def settle(job_dir: Path, keep: bool, s3: S3Factory) -> str | None:
    """Finish (``keep``) or undo an interrupted publish found in ``job_dir``; what was done, or None."""
    plan = load(job_dir)
    if plan is None:
        return None
    if keep and plan["phase"] == "commit":
        forward(plan, s3)
        done = "completed"
    else:
        if plan["phase"] != "rollback":
            plan["phase"] = "rollback" if plan["phase"] == "commit" else plan["phase"]
            save(job_dir, plan)
        back(plan, s3)
        done = "rolled back"
    discard(plan)
    remove(job_dir)
    return done
