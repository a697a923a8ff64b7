"""A local job's outputs to their destination, with SageMaker's rules.

Destinations are ``s3://bucket/key``, ``file:///abs/path`` or a plain absolute path (see
:mod:`.transfer`). ``EndOfJob`` is published only when the job succeeded and is rolled back whole if
publishing fails; ``Continuous`` syncs new/changed files every second, success or not. Symlinks are
never followed on upload, as on SageMaker.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagemaker_processing_provider.errors import StagingError
from sagemaker_processing_provider.local.transfer import (
    SMALL_OBJECT,
    Location,
    S3Loc,
    fmt_bytes,
    lazy_s3_client,
    ml_subpath,
    parallel,
    parse_uri,
    s3_error,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Output:
    name: str
    uri: str
    dest: Location
    mode: str
    local_path: str
    sources: tuple[Path, ...]  # the LocalPath folder of every host

    @property
    def channel(self) -> str:
        return f"output {self.name!r}"

    def key_for(self, rel: str) -> str:
        prefix = self.dest.key.rstrip("/") if isinstance(self.dest, S3Loc) else ""
        return f"{prefix}/{rel}" if prefix else rel


def _parse_output(entry: dict, host_mls: list[Path]) -> _Output:
    name = entry.get("OutputName", "?")
    channel = f"output {name!r}"
    spec = entry.get("S3Output")
    if not isinstance(spec, dict):
        raise StagingError(
            channel, "-", "only S3Output is supported by the local backend (not FeatureStoreOutput)"
        )
    uri = spec.get("S3Uri", "")
    mode = spec.get("S3UploadMode", "EndOfJob")
    if mode not in ("EndOfJob", "Continuous"):
        raise StagingError(channel, uri, f"S3UploadMode={mode!r}; expected 'EndOfJob' or 'Continuous'")
    local_path = spec.get("LocalPath", "")
    sources = tuple(ml_subpath(ml, local_path, channel) for ml in host_mls)
    return _Output(name, uri, parse_uri(uri, channel), mode, local_path, sources)


def _collect(out: _Output, warned: set[str] | None = None) -> dict[str, Path]:
    """Relative path -> file, all hosts merged (a later host wins a clash); symlinks are not followed."""
    warned = set() if warned is None else warned
    files: dict[str, Path] = {}
    for folder in out.sources:
        for root, _dirs, names in os.walk(folder):  # os.walk does not descend into symlinked folders
            for n in names:
                full = Path(root, n)
                if full.is_symlink() or not full.is_file():
                    continue
                rel = full.relative_to(folder).as_posix()
                if rel in files and f"{out.name}/{rel}" not in warned:
                    warned.add(f"{out.name}/{rel}")
                    logger.warning("%s: %s written by several hosts; keeping %s", out.channel, rel, full)
                files[rel] = full
    return files


class OutputUploader:
    """Publishes a job's ``ProcessingOutputConfig.Outputs`` from its hosts' folders."""

    def __init__(
        self, outputs: list[dict], host_mls: list[Path], job_name: str, interval: float = 1.0
    ) -> None:
        self._outputs = [_parse_output(o, host_mls) for o in outputs]
        self._job_name = job_name
        self._interval = interval
        self._continuous = [o for o in self._outputs if o.mode == "Continuous"]
        self._synced: dict[tuple[str, Path], tuple[int, int]] = {}  # (output, file) -> (size, mtime_ns)
        self._stats: dict[str, list[int]] = {o.name: [0, 0] for o in self._continuous}  # uploads, bytes
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._s3 = lazy_s3_client()
        self._finished = False
        self._warned: set[str] = set()  # multi-host clashes already logged (Continuous scans every second)

    def start(self) -> None:
        """Sync Continuous outputs every ``interval`` seconds in a daemon thread until :meth:`finish`."""
        if self._continuous and self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name=f"continuous-{self._job_name}", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._sync_continuous()
            except Exception as exc:  # retried next round; finish() makes the last sync raise
                logger.warning("Continuous upload failed, retrying: %s", exc)

    def finish(self, success: bool) -> None:
        """Last Continuous sync (always), then EndOfJob outputs if ``success``; raises StagingError."""
        if self._finished:
            return
        self._finished = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sync_continuous()
        for out in self._continuous:
            uploads, size = self._stats[out.name]
            logger.info(
                "Output %r (Continuous) to %s: %d uploads, %s", out.name, out.uri, uploads, fmt_bytes(size)
            )
        end_of_job = [o for o in self._outputs if o.mode == "EndOfJob"]
        if not success:
            if end_of_job:
                logger.info(
                    "Job did not succeed: EndOfJob outputs not published (%s)", [o.name for o in end_of_job]
                )
            return
        _publish_all(end_of_job, self._job_name, self._s3)

    # -------------------------------------------------------------------------------- continuous

    def _sync_continuous(self) -> None:
        for out in self._continuous:
            for rel, src in sorted(_collect(out, self._warned).items()):
                try:
                    st = src.stat()
                except FileNotFoundError:  # the script removed it meanwhile
                    continue
                # taken before the copy: a file that changes meanwhile differs next round and syncs again
                sig = (st.st_size, st.st_mtime_ns)
                if self._synced.get((out.name, src)) == sig:
                    continue
                if isinstance(out.dest, S3Loc):
                    _upload(self._s3(), src, out.dest.bucket, out.key_for(rel), out)
                else:
                    _copy_atomic(src, out.dest / rel, out)
                self._synced[(out.name, src)] = sig
                self._stats[out.name][0] += 1
                self._stats[out.name][1] += st.st_size


def _upload(client: Any, src: Path, bucket: str, key: str, out: _Output) -> None:
    try:
        if src.stat().st_size < SMALL_OBJECT:
            with open(src, "rb") as body:
                client.put_object(Bucket=bucket, Key=key, Body=body)
        else:
            client.upload_file(str(src), bucket, key)
    except Exception as exc:
        raise s3_error(out.channel, f"s3://{bucket}/{key}", exc) from exc


def _copy_atomic(src: Path, target: Path, out: _Output) -> None:
    """Copy to a hidden temp file beside ``target``, then rename: readers never see half a file."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        raise StagingError(out.channel, str(target), f"cannot write: {exc}") from exc


# ------------------------------------------------------------------------------------------ end of job

_Undo = list[Callable[[], None]]


def _publish_all(outputs: list[_Output], job_name: str, s3: Callable[[], Any]) -> None:
    """Publish every EndOfJob output, or none: a failure undoes what this job had already written."""
    undo: _Undo = []
    scratch: list[Path] = []  # temp folders, removed once the outcome is final
    try:
        for out in outputs:
            files = _collect(out)
            size = sum(p.stat().st_size for p in files.values())
            if isinstance(out.dest, S3Loc):
                _publish_s3(out, out.dest, files, s3(), undo)
            elif files:
                _publish_local(out, out.dest, files, job_name, undo, scratch)
            logger.info(
                "Output %r (EndOfJob) to %s: %d files, %s", out.name, out.uri, len(files), fmt_bytes(size)
            )
    except BaseException as exc:
        logger.error("Publishing outputs failed, removing what this job wrote: %s", exc)
        for step in reversed(undo):
            try:
                step()
            except Exception as undo_exc:  # keep undoing the rest; say what could not be undone
                logger.error("Could not undo a published file: %s", undo_exc)
        raise
    finally:
        for folder in scratch:
            shutil.rmtree(folder, ignore_errors=True)


def _publish_s3(out: _Output, dest: S3Loc, files: dict[str, Path], client: Any, undo: _Undo) -> None:
    bucket = dest.bucket
    prefix = out.key_for("")
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        existing = {obj["Key"] for page in pages for obj in page.get("Contents", [])}
    except Exception as exc:
        raise s3_error(out.channel, out.uri, exc) from exc
    keys = {rel: out.key_for(rel) for rel in files}
    # Registered before uploading: on failure every key this job may have created goes, none other.
    undo.extend(
        lambda key=key: _delete_quietly(client, bucket, key) for key in keys.values() if key not in existing
    )
    parallel(lambda rel: _upload(client, files[rel], bucket, keys[rel], out), sorted(files))


def _delete_quietly(client: Any, bucket: str, key: str) -> None:
    """Deleting a key that was never written is a no-op for S3; a key S3 cannot even name was not written."""
    try:
        client.delete_object(Bucket=bucket, Key=key)
    except (UnicodeError, ValueError) as exc:
        logger.debug("s3://%s/%s was never written (%s)", bucket, key, exc)


def _publish_local(
    out: _Output, dest: Path, files: dict[str, Path], job_name: str, undo: _Undo, scratch: list[Path]
) -> None:
    """Copy into a hidden sibling folder, then move into place; user files not produced stay untouched."""
    try:
        if dest.exists() and not dest.is_dir():
            raise StagingError(out.channel, out.uri, "destination exists and is not a folder")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.{job_name}.", dir=dest.parent))
        scratch.append(tmp)
        new, old = tmp / "new", tmp / "replaced"
        for rel, src in files.items():
            (new / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, new / rel)
        if not dest.exists():  # the common case: one atomic rename
            os.rename(new, dest)
            undo.append(lambda: shutil.rmtree(dest))
            return
        _check_no_clash(out, dest, files)
        for rel in sorted(files):
            _move_into_place(new / rel, dest, rel, old / rel, undo)
    except OSError as exc:
        raise StagingError(out.channel, out.uri, f"cannot write: {exc}") from exc


def _check_no_clash(out: _Output, dest: Path, files: Iterable[str]) -> None:
    """Refuse before moving anything if a produced file would replace a user's folder or symlink."""
    for rel in files:
        target = dest / rel
        parents = [p for p in target.parents if p != dest and dest in p.parents]
        bad = [p for p in parents if p.is_symlink() or (p.exists() and not p.is_dir())]
        if bad or target.is_dir() or target.is_symlink():
            where = bad[0] if bad else target
            raise StagingError(
                out.channel, out.uri, f"{where} is a user's folder or symlink where the job writes a file"
            )


def _move_into_place(staged: Path, dest: Path, rel: str, backup: Path, undo: _Undo) -> None:
    target = dest / rel
    for folder in reversed([p for p in target.parents if p != dest and dest in p.parents]):
        if not folder.exists():
            folder.mkdir()
            undo.append(lambda folder=folder: folder.rmdir() if not any(folder.iterdir()) else None)
    if target.exists():  # the user's file goes aside (kept until the outcome is final), restored on undo
        backup.parent.mkdir(parents=True, exist_ok=True)
        os.replace(target, backup)
        undo.append(lambda: os.replace(backup, target))
    else:
        undo.append(lambda: target.unlink(missing_ok=True))
    os.replace(staged, target)
