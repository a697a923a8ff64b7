"""A local job's outputs to their destination, with SageMaker's rules.

Destinations are ``s3://bucket/key``, ``file:///abs/path`` or a plain absolute path (see
:mod:`.transfer`); local ones are checked by :mod:`.destinations` (never a job store, a system or home
folder). ``EndOfJob`` is published only when the job succeeded, through the on-disk journal of
:mod:`.journal`: everything is prepared first (copied into scratch, overwritten S3 objects saved), then
moved into place, then the caller's ``decide`` writes the final status (a stop request wins: the
publish is undone); a failure or a crash at any point is finished or undone from the journal.
``Continuous`` syncs new/changed files every second, success or not. What a job leaves in its output
folders is read without following symlinks; symlinks, FIFOs and devices are skipped with a log line.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagemaker_processing_provider.errors import StagingError
from sagemaker_processing_provider.local import failpoints, journal, safefs
from sagemaker_processing_provider.local.destinations import output_problem, resolve
from sagemaker_processing_provider.local.transfer import (
    ML_ROOT,
    Location,
    S3Loc,
    fmt_bytes,
    lazy_s3_client,
    ml_subpath,
    parse_uri,
    s3_error,
    safe_rel,
    upload_source,
)

logger = logging.getLogger(__name__)
Source = tuple[Path, str]  # (a host's /opt/ml folder, path below it): read with safefs, never followed


class StopRequested(Exception):
    """A stop request arrived while publishing: the publish is undone."""


@dataclass(frozen=True)
class _Output:
    name: str
    uri: str
    dest: Location
    mode: str
    local_path: str
    host_mls: tuple[Path, ...]

    @property
    def channel(self) -> str:
        return f"output {self.name!r}"

    @property
    def sub(self) -> str:
        """LocalPath below /opt/ml (checked by ``ml_subpath``)."""
        return safe_rel(self.local_path[len(ML_ROOT) :], self.channel, self.local_path)

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
    for ml in host_mls:
        ml_subpath(ml, local_path, channel)
    return _Output(name, uri, parse_uri(uri, channel), mode, local_path, tuple(host_mls))


def _collect(out: _Output, warned: set[str] | None = None) -> dict[str, Source]:
    """Relative path -> source, all hosts merged (a later host wins a clash); nothing is followed."""
    warned = set() if warned is None else warned
    files: dict[str, Source] = {}
    for ml in out.host_mls:
        for rel in safefs.regular_files(ml, out.sub, out.channel):
            if rel in files and f"{out.name}/{rel}" not in warned:
                warned.add(f"{out.name}/{rel}")
                logger.warning(
                    "%s: %s written by several hosts; keeping %s's", out.channel, rel, ml.parent.name
                )
            files[rel] = (ml, f"{out.sub}/{rel}")
    return files


def _local_dest(out: _Output, home: Path | None) -> Path:
    assert isinstance(out.dest, Path)
    problem = output_problem(out.dest, home)
    if problem:
        raise StagingError(out.channel, out.uri, problem)
    return resolve(out.dest)


class OutputUploader:
    """Publishes a job's ``ProcessingOutputConfig.Outputs`` from its hosts' folders.

    ``job_dir`` holds the publish journal (a private temporary folder when None); ``stop_requested``
    is asked between steps of an EndOfJob publish; ``home`` is the job store (never a destination).
    """

    def __init__(
        self,
        outputs: list[dict],
        host_mls: list[Path],
        job_name: str,
        interval: float = 1.0,
        *,
        job_dir: Path | None = None,
        stop_requested: Callable[[], bool] | None = None,
        home: Path | None = None,
    ) -> None:
        self._outputs = [_parse_output(o, host_mls) for o in outputs]
        self._job_name = job_name
        self._interval = interval
        self._job_dir = job_dir
        self._stop_requested = stop_requested or (lambda: False)
        self._home = home
        self._continuous = [o for o in self._outputs if o.mode == "Continuous"]
        self._synced: dict[tuple[str, str], tuple[int, int]] = {}  # (output, rel) -> (size, mtime_ns)
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

    def finish(self, success: bool, decide: Callable[[], bool] | None = None) -> bool:
        """Last Continuous sync (always), then EndOfJob outputs if ``success``; raises StagingError.

        ``decide`` runs once everything is in place and returns False to undo it (a stop won); the
        return value says whether the EndOfJob outputs stayed published.
        """
        if self._finished:
            return False
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
            return False
        if self._job_dir is not None:
            return _EndOfJob(self, end_of_job, self._job_dir).run(decide)
        with tempfile.TemporaryDirectory(prefix="sm-publish-journal-") as private:
            return _EndOfJob(self, end_of_job, Path(private)).run(decide)

    # -------------------------------------------------------------------------------- continuous

    def _sync_continuous(self) -> None:
        for out in self._continuous:
            dest = None if isinstance(out.dest, S3Loc) else _local_dest(out, self._home)
            for rel, (root, sub) in sorted(_collect(out, self._warned).items()):
                handle = safefs.open_file(root, sub)
                if handle is None:  # removed meanwhile, or not a regular file any more
                    continue
                with handle:
                    st = os.fstat(handle.fileno())
                # taken before the copy: a file that changes meanwhile differs next round and syncs again
                sig = (st.st_size, st.st_mtime_ns)
                if self._synced.get((out.name, rel)) == sig:
                    continue
                if dest is None:
                    assert isinstance(out.dest, S3Loc)
                    upload_source(self._s3(), root, sub, out.dest.bucket, out.key_for(rel), out.channel)
                else:
                    _copy_atomic(root, sub, dest / rel, out)
                self._synced[(out.name, rel)] = sig
                self._stats[out.name][0] += 1
                self._stats[out.name][1] += st.st_size


def _copy_atomic(root: Path, sub: str, target: Path, out: _Output) -> None:
    """Copy to a hidden temp file beside ``target``, then rename: readers never see half a file."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".sm-tmp", dir=target.parent)
        os.close(fd)
        try:
            if safefs.copy_out(root, sub, Path(tmp)) is not None:
                os.replace(tmp, target)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        raise StagingError(out.channel, str(target), f"cannot write: {exc}") from exc


# ------------------------------------------------------------------------------------------ end of job


class _EndOfJob:
    """One EndOfJob publish: plan + journal, prepare everything, move into place, decide, settle."""

    def __init__(self, uploader: OutputUploader, outputs: list[_Output], job_dir: Path) -> None:
        self.up = uploader
        self.outputs = outputs
        self.job_dir = job_dir
        self.plan: dict[str, Any] = {"phase": "prepare", "outputs": []}

    def _tick(self) -> None:
        if self.up._stop_requested():
            raise StopRequested("a stop request arrived while publishing")

    def run(self, decide: Callable[[], bool] | None) -> bool:
        sources = [_collect(out) for out in self.outputs]
        try:
            entries = [
                self._plan_entry(i, o, s) for i, (o, s) in enumerate(zip(self.outputs, sources, strict=True))
            ]
            self.plan["outputs"] = [e for e in entries if e is not None]
            journal.save(self.job_dir, self.plan)
            for entry in self.plan["outputs"]:
                out = self.outputs[entry["index"]]
                try:
                    self._prepare(entry, sources[entry["index"]])
                except OSError as exc:
                    raise StagingError(out.channel, out.uri, f"cannot write: {exc}") from exc
            self._tick()
            self.plan["phase"] = "commit"
            journal.save(self.job_dir, self.plan)
            failpoints.hit("publish-planned")
            for entry in self.plan["outputs"]:
                out = self.outputs[entry["index"]]
                try:
                    journal.forward_one(entry, self.up._s3, self._tick)
                except OSError as exc:
                    raise StagingError(out.channel, out.uri, f"cannot write: {exc}") from exc
            keep = decide() if decide else True
        except BaseException as exc:
            if not isinstance(exc, StopRequested):
                logger.error("Publishing outputs failed, undoing what this job wrote: %s", exc)
            self._undo()
            if isinstance(exc, StopRequested):
                logger.info("Stop requested while publishing: outputs undone")
                return False
            raise
        if not keep:
            logger.info("Stop requested before the job completed: outputs undone")
            self._undo()
            return False
        journal.discard(self.plan)
        journal.remove(self.job_dir)
        for out, files in zip(self.outputs, sources, strict=True):
            logger.info("Output %r (EndOfJob) to %s: %d files", out.name, out.uri, len(files))
        return True

    def _undo(self) -> None:
        if not self.plan["outputs"]:
            journal.remove(self.job_dir)
            return
        if self.plan["phase"] == "commit":
            self.plan["phase"] = "rollback"
            journal.save(self.job_dir, self.plan)
        journal.back(self.plan, self.up._s3)
        journal.discard(self.plan)
        journal.remove(self.job_dir)

    # ---------------------------------------------------------------------------------- planning

    def _plan_entry(self, index: int, out: _Output, files: dict[str, Source]) -> dict[str, Any] | None:
        base = {"index": index, "name": out.name, "uri": out.uri}
        if isinstance(out.dest, S3Loc):
            return {**base, "kind": "s3", "bucket": out.dest.bucket}
        dest = _local_dest(out, self.up._home)
        if not files:
            return None  # nothing to publish: no folder is created
        if os.path.lexists(dest) and not os.path.isdir(dest):
            raise StagingError(out.channel, out.uri, "destination exists and is not a folder")
        tag = f"sm-publish-{self.up._job_name}"
        whole = not os.path.lexists(dest)
        scratch = dest.parent / f".{dest.name}.{tag}" if whole else dest / f".{tag}"
        folders = sorted({str(Path(rel).parent) for rel in files} - {"."})
        tree = {str(dest / part) for f in folders for part in _with_parents(f)}
        if whole:
            missing = [p for p in reversed(dest.parents) if not p.exists()]
            dirs = [str(p) for p in missing] + [str(dest)] + sorted(tree)
        else:
            _check_no_clash(out, dest, files)
            dirs = sorted(d for d in tree if not os.path.lexists(d))
        return {
            **base,
            "kind": "local",
            "dest": str(dest),
            "scratch": str(scratch),
            "whole": whole,
            "dirs": dirs,
            "files": {},
        }

    def _prepare(self, entry: dict[str, Any], files: dict[str, Source]) -> None:
        if entry["kind"] == "s3":
            self._prepare_s3(entry, files)
            return
        dest, new = Path(entry["dest"]), Path(entry["scratch"]) / "new"
        for folder in entry["dirs"]:
            if Path(folder) in dest.parents:
                os.makedirs(folder, exist_ok=True)  # ancestors of a new destination
        new.mkdir(parents=True, exist_ok=True)
        for i, (rel, (root, sub)) in enumerate(sorted(files.items())):
            if i % 64 == 0:
                self._tick()
            (new / rel).parent.mkdir(parents=True, exist_ok=True)
            if safefs.copy_out(root, sub, new / rel) is not None:
                entry["files"][rel] = journal.identity(new / rel)
            failpoints.hit("publish-copy", i + 1)

    def _prepare_s3(self, entry: dict[str, Any], files: dict[str, Source]) -> None:
        out = self.outputs[entry["index"]]
        client = self.up._s3()
        prefix = out.key_for("")
        try:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=entry["bucket"], Prefix=prefix)
            existing = {obj["Key"] for page in pages for obj in page.get("Contents", [])}
        except Exception as exc:
            raise s3_error(out.channel, out.uri, exc) from exc
        keys = {rel: out.key_for(rel) for rel in files}
        backup_dir = self.job_dir / "publish-backup" / str(entry["index"])
        entry.update(
            keys=keys,
            sources={r: [str(s[0]), s[1]] for r, s in files.items()},
            created=sorted(k for k in keys.values() if k not in existing),
            backup_dir=str(backup_dir),
            backups={},
        )
        journal.save(self.job_dir, self.plan)  # before any backup is written: a crash removes them
        for rel, key in sorted(keys.items()):
            if key in existing:
                self._tick()
                path = backup_dir / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    client.download_file(entry["bucket"], key, str(path))
                except Exception as exc:
                    raise s3_error(out.channel, f"s3://{entry['bucket']}/{key}", exc) from exc
                entry["backups"][rel] = str(path)


def _with_parents(folder: str) -> list[str]:
    parts = folder.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _check_no_clash(out: _Output, dest: Path, files: dict[str, Source]) -> None:
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
