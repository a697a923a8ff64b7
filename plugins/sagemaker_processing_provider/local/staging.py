"""Inputs onto a local job's disk, outputs to their destination, with SageMaker's rules.

Sources and destinations are ``s3://bucket/key`` (any endpoint: boto3 honours ``AWS_ENDPOINT_URL``),
``file:///abs/path`` or a plain absolute path. Local data is always copied, never moved or linked, so a
script cannot change the user's files. boto3 is imported only when an S3 URI is met, so a job with
local data only never pays for it.

Inputs: ``S3Prefix`` matches every key starting with the prefix string; ``ManifestFile`` reads
``[{"prefix": ...}, "rel/key", ...]``; ``ShardedByS3Key`` gives host i the sorted keys whose index
modulo the host count is i. Outputs: ``EndOfJob`` is published only when the job succeeded and is
rolled back whole if publishing fails; ``Continuous`` syncs new/changed files every second, success
or not. Symlinks are never followed on upload, as on SageMaker.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from sagemaker_processing_provider.errors import StagingError

logger = logging.getLogger(__name__)

ML_ROOT = "/opt/ml/"
_WORKERS = 8  # parallel transfers: S3 latency, not CPU, is the bottleneck
# Below this a single GET/PUT is ~2x faster than s3transfer's managed transfer (its thread pool per
# call costs more than the object); above it the managed transfer's parallel parts win.
_SMALL_OBJECT = 8 * 1024 * 1024


@dataclass(frozen=True)
class S3Loc:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


Location = S3Loc | Path


@dataclass(frozen=True)
class _Item:
    """One file to stage: ``order`` sorts it for sharding, ``rel`` is its path under LocalPath."""

    order: str
    rel: str
    src: Location
    size: int | None = None  # known from an S3 listing


def parse_uri(uri: str, channel: str) -> Location:
    """``s3://`` -> S3Loc, ``file://`` or an absolute path -> Path; anything else is an error."""
    if not isinstance(uri, str) or not uri:
        raise StagingError(
            channel, repr(uri), "expected s3://bucket/key, file:///abs/path or an absolute path"
        )
    if uri.startswith("s3://"):
        bucket, _, key = uri[5:].partition("/")
        if not bucket:
            raise StagingError(channel, uri, "S3 URI without a bucket")
        return S3Loc(bucket, key)
    if uri.startswith("file://"):
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise StagingError(channel, uri, "file:// URIs must be local (file:///abs/path)")
        return Path(unquote(parsed.path))
    if os.path.isabs(uri):
        return Path(uri)
    raise StagingError(channel, uri, "expected s3://bucket/key, file:///abs/path or an absolute path")


def ml_subpath(host_ml: Path, local_path: str, channel: str) -> Path:
    """The host-side folder of a container ``LocalPath`` (``/opt/ml/x`` -> ``host_ml/x``)."""
    if not isinstance(local_path, str) or not local_path.startswith(ML_ROOT):
        raise StagingError(channel, str(local_path), f"LocalPath must start with {ML_ROOT}")
    return host_ml / _safe_rel(local_path[len(ML_ROOT) :], channel, local_path)


def _safe_rel(rel: str, channel: str, uri: str) -> str:
    """A relative path that cannot escape its folder (S3 keys may contain ``..`` or ``//``)."""
    parts = [p for p in rel.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise StagingError(channel, uri, f"path {rel!r} contains '.' or '..' components")
    return "/".join(parts)


def _s3_client() -> Any:
    import boto3  # lazy: local-only jobs never import it

    # Its own session: boto3's default session is not thread-safe and the runner may use it meanwhile.
    return boto3.session.Session().client("s3")


def _s3_error(channel: str, uri: str, exc: Exception) -> StagingError:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
    return StagingError(channel, uri, f"S3 request failed ({code}): {exc}")


def _fmt_bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    size = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            break
    return f"{size:.1f} {unit} ({n} bytes)"


# ---------------------------------------------------------------------------------------------- inputs


def stage_inputs(inputs: list[dict], host_ml: Path, host_index: int, host_count: int) -> None:
    """Copy every ``ProcessingInputs`` entry into ``host_ml`` (``host_index`` is 0-based)."""
    if not 0 <= host_index < host_count:
        raise ValueError(f"host_index must be in [0, {host_count}), got {host_index}")
    client: list[Any] = []  # one lazily created S3 client shared by all inputs

    def s3() -> Any:
        if not client:
            client.append(_s3_client())
        return client[0]

    for entry in inputs:
        _stage_one(entry, host_ml, host_index, host_count, s3)


def _stage_one(entry: dict, host_ml: Path, host_index: int, host_count: int, s3: Callable[[], Any]) -> None:
    name = entry.get("InputName", "?")
    channel = f"input {name!r}"
    spec = entry.get("S3Input")
    if not isinstance(spec, dict):
        raise StagingError(
            channel, "-", "only S3Input is supported by the local backend (not DatasetDefinition)"
        )
    uri = spec.get("S3Uri", "")
    _check_modes(spec, channel, uri)
    dest = ml_subpath(host_ml, spec.get("LocalPath", ""), channel)
    src = parse_uri(uri, channel)
    if spec.get("S3DataType", "S3Prefix") == "ManifestFile":
        items = _manifest_items(src, channel, uri, s3)
    else:
        items = (
            _s3_prefix_items(src, channel, uri, s3)
            if isinstance(src, S3Loc)
            else _local_items(src, channel, uri)
        )
    if not items:
        raise StagingError(
            channel,
            uri,
            "no objects or files found at this source (SageMaker fails such a job with ClientError)",
        )
    sharded = spec.get("S3DataDistributionType", "FullyReplicated") == "ShardedByS3Key"
    if sharded:
        items = sorted(items, key=lambda it: it.order)[host_index::host_count]
    _check_unique(items, channel, uri)
    dest.mkdir(parents=True, exist_ok=True)
    if any(isinstance(it.src, S3Loc) for it in items):
        s3()  # create the client before the worker threads: boto3's client creation is not thread-safe
    sizes = _parallel(lambda it: _fetch(it, dest / it.rel, channel, s3), items)
    shard = f", shard {host_index + 1}/{host_count}" if sharded else ""
    logger.info(
        "Staged input %r from %s to %s: %d files, %s%s",
        name,
        uri,
        spec.get("LocalPath"),
        len(items),
        _fmt_bytes(sum(sizes)),
        shard,
    )


# Pipe mode and Gzip (Pipe-only on SageMaker) would need named pipes fed while the script runs.
_SUPPORTED_INPUT_MODES = {
    "S3InputMode": ("File",),
    "S3CompressionType": ("None",),
    "S3DataType": ("S3Prefix", "ManifestFile"),
    "S3DataDistributionType": ("FullyReplicated", "ShardedByS3Key"),
}


def _check_modes(spec: dict, channel: str, uri: str) -> None:
    for field, allowed in _SUPPORTED_INPUT_MODES.items():
        value = spec.get(field, allowed[0])
        if value not in allowed:
            raise StagingError(
                channel, uri, f"{field}={value!r} is not supported locally; expected one of {allowed}"
            )


def _rel_for_prefix(prefix: str, key: str) -> str:
    """Where SageMaker puts ``key`` matched by ``prefix``.

    A prefix ending at a folder boundary (``p/``, or ``p`` matching ``p/x``) drops it; a key equal to
    the prefix keeps its basename; a partial match (``data/train`` -> ``data/train-a.csv``) keeps the
    path relative to the prefix's folder (``train-a.csv``), as SageMaker does (sagemaker-python-sdk#3612).
    """
    if not prefix or prefix.endswith("/"):
        return key[len(prefix) :]
    if key == prefix:
        return key.rsplit("/", 1)[-1]
    if key[len(prefix)] == "/":
        return key[len(prefix) + 1 :]
    folder = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
    return key[len(folder) :]


def _s3_prefix_items(loc: S3Loc, channel: str, uri: str, s3: Callable[[], Any]) -> list[_Item]:
    items = []
    try:
        for page in s3().get_paginator("list_objects_v2").paginate(Bucket=loc.bucket, Prefix=loc.key):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if not key.endswith("/"):  # zero-byte "folder" markers are not files
                    rel = _safe_rel(_rel_for_prefix(loc.key, key), channel, uri)
                    items.append(_Item(key, rel, S3Loc(loc.bucket, key), obj.get("Size")))
    except StagingError:
        raise
    except Exception as exc:
        raise _s3_error(channel, uri, exc) from exc
    return items


def _local_items(path: Path, channel: str, uri: str) -> list[_Item]:
    """A file -> itself; a folder -> every file below it (symlinked files copied, linked folders skipped)."""
    if path.is_file():
        return [_Item(path.name, path.name, path)]
    if not path.is_dir():
        raise StagingError(channel, uri, "source does not exist (or is not a file or folder)")
    items = []
    for root, dirs, files in os.walk(path):
        for d in dirs:
            if os.path.islink(os.path.join(root, d)):
                logger.warning("%s: skipping symlinked folder %s", channel, os.path.join(root, d))
        for f in files:
            full = Path(root, f)
            if full.is_file():
                rel = full.relative_to(path).as_posix()
                items.append(_Item(rel, rel, full))
            else:
                logger.warning("%s: skipping %s (broken symlink or not a regular file)", channel, full)
    return items


def _manifest_items(src: Location, channel: str, uri: str, s3: Callable[[], Any]) -> list[_Item]:
    """``[{"prefix": P}, "rel1", ...]`` -> the files ``P + rel``, each landing at ``rel``."""
    try:
        if isinstance(src, S3Loc):
            text = s3().get_object(Bucket=src.bucket, Key=src.key)["Body"].read()
        else:
            text = src.read_bytes()
        manifest = json.loads(text)
    except OSError as exc:
        raise StagingError(channel, uri, f"cannot read the manifest: {exc}") from exc
    except ValueError as exc:
        raise StagingError(channel, uri, f"the manifest is not valid JSON: {exc}") from exc
    except Exception as exc:
        raise _s3_error(channel, uri, exc) from exc
    ok = isinstance(manifest, list) and manifest and isinstance(manifest[0], dict)
    if (
        not ok
        or not isinstance(manifest[0].get("prefix"), str)
        or not all(isinstance(r, str) for r in manifest[1:])
    ):
        raise StagingError(
            channel, uri, 'expected a manifest [{"prefix": "s3://bucket/prefix/"}, "rel/key", ...]'
        )
    prefix = manifest[0]["prefix"]
    base = parse_uri(prefix, f"{channel} manifest prefix")
    items = []
    for rel in manifest[1:]:
        safe = _safe_rel(rel, channel, uri)
        if isinstance(base, S3Loc):
            key = base.key + rel
            items.append(_Item(key, safe, S3Loc(base.bucket, key)))
        else:  # SageMaker concatenates the strings: "/d/p" + "x" is "/d/px"
            full = Path(base, rel) if prefix.endswith("/") else Path(str(base) + rel)
            items.append(_Item(str(full), safe, full))
    return items


def _check_unique(items: Iterable[_Item], channel: str, uri: str) -> None:
    """Two sources landing on one path (or a file where a folder goes) would silently lose data."""
    seen: set[str] = set()
    folders: set[str] = set()
    for it in items:
        if it.rel in seen or it.rel in folders:
            raise StagingError(channel, uri, f"two sources map to the same local path {it.rel!r}")
        seen.add(it.rel)
        parts = it.rel.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
    clash = seen & folders
    if clash:
        raise StagingError(channel, uri, f"{sorted(clash)[0]!r} is both a file and a folder")


def _fetch(item: _Item, target: Path, channel: str, s3: Callable[[], Any]) -> int:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not isinstance(item.src, S3Loc):
            shutil.copyfile(item.src, target)  # a copy (never a link): the script cannot touch the source
        elif item.size is not None and item.size < _SMALL_OBJECT:
            body = s3().get_object(Bucket=item.src.bucket, Key=item.src.key)["Body"]
            with open(target, "wb") as handle:
                shutil.copyfileobj(body, handle)
        else:
            s3().download_file(item.src.bucket, item.src.key, str(target))
        return target.stat().st_size
    except OSError as exc:
        raise StagingError(channel, str(item.src), f"cannot copy to {target}: {exc}") from exc
    except Exception as exc:
        raise _s3_error(channel, str(item.src), exc) from exc


def _parallel(fn: Callable[[Any], Any], items: list) -> list:
    if len(items) <= 1:
        return [fn(it) for it in items]
    pool = ThreadPoolExecutor(max_workers=min(_WORKERS, len(items)))
    try:
        return list(pool.map(fn, items))
    finally:  # on the first error, transfers not yet started are dropped
        pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------------------------- outputs


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
        self._client: Any = None
        self._finished = False
        self._warned: set[str] = set()  # multi-host clashes already logged (Continuous scans every second)

    def _s3(self) -> Any:
        if self._client is None:
            self._client = _s3_client()
        return self._client

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
                "Output %r (Continuous) to %s: %d uploads, %s", out.name, out.uri, uploads, _fmt_bytes(size)
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
        if src.stat().st_size < _SMALL_OBJECT:
            with open(src, "rb") as body:
                client.put_object(Bucket=bucket, Key=key, Body=body)
        else:
            client.upload_file(str(src), bucket, key)
    except Exception as exc:
        raise _s3_error(out.channel, f"s3://{bucket}/{key}", exc) from exc


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
                "Output %r (EndOfJob) to %s: %d files, %s", out.name, out.uri, len(files), _fmt_bytes(size)
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
        raise _s3_error(out.channel, out.uri, exc) from exc
    keys = {rel: out.key_for(rel) for rel in files}
    # Registered before uploading: on failure every key this job may have created goes, none other.
    undo.extend(
        lambda key=key: _delete_quietly(client, bucket, key) for key in keys.values() if key not in existing
    )
    _parallel(lambda rel: _upload(client, files[rel], bucket, keys[rel], out), sorted(files))


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
