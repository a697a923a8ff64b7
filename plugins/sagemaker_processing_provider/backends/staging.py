"""The backends' stagers: where the local things a request names (code, deps, data, ``configuration.json``) go.

Both plan first and transfer on ``upload()`` (see ``request/stager.py``):

- ``LocalStager`` (local backend): files and folders are used in place (``file://`` URIs); generated
  bytes and composed Spark channels are written once, content-addressed, under ``<home>/staging``.
- ``S3Stager`` (AWS): content-addressed upload to ``s3://<bucket>/<prefix>/<sha256[:16]>/<name>``,
  skipped when the key is already there: same bytes, same key, no clutter of per-job copies; with
  ``kms_key_id`` every object is written with SSE-KMS under that key (the SDK uses the processor's
  ``output_kms_key`` for its uploads too).

Every hash covers the entry's name and its bytes (a folder: sorted relative paths and each file's
bytes), so one hash folder holds exactly one entry and an ``S3Prefix`` URI matches nothing else.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from sagemaker_processing_provider.request.stager import channel_members

log = logging.getLogger(__name__)

HASH_LENGTH = 16


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _digest(kind: str, name: str, entries: Iterable[tuple[str, str]]) -> str:
    h = hashlib.sha256(f"{kind}\0{name}\0".encode())
    for rel, sha in entries:
        h.update(f"{rel}\0{sha}\n".encode())
    return h.hexdigest()[:HASH_LENGTH]


def dir_files(path: Path) -> list[tuple[str, Path]]:
    """All files under a folder (recursive), as sorted ``(relative posix path, path)``."""
    files = [(p.relative_to(path).as_posix(), p) for p in path.rglob("*") if p.is_file()]
    return sorted(files)


def _existing(path: str | Path, kind: str) -> Path:
    text = str(path)
    p = Path(unquote(urlparse(text).path)) if text.startswith("file://") else Path(text)
    p = p.expanduser().resolve()
    if kind == "file" and not p.is_file():
        raise ValueError(f"{path} is not a file")
    if kind == "dir" and not p.is_dir():
        raise ValueError(f"{path} is not a folder")
    return p


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} KB"


class LocalStager:
    """Local backend: use files and folders in place; write generated content under ``home/staging``."""

    allow_local = True

    def __init__(self, home: str | Path) -> None:
        self.root = Path(home).expanduser().resolve() / "staging"
        self._planned: dict[str, tuple[str, Callable[[Path], None]]] = {}
        self.addressed: set[str] = set()

    def stage_file(self, path: str | Path) -> str:
        return _existing(path, "file").as_uri()

    def stage_dir(self, path: str | Path) -> str:
        return _existing(path, "dir").as_uri()

    def stage_bytes(self, data: bytes, filename: str) -> str:
        key = _digest("file", filename, [("", hashlib.sha256(data).hexdigest())])
        return self._plan(key, filename, lambda tmp: (tmp / filename).write_bytes(data))

    def stage_channel(self, paths: list[Path], channel: str) -> str:
        members = channel_members(paths)
        key = _digest("channel", channel, [(name, file_sha256(p)) for name, p in members])

        def fill(tmp: Path) -> None:
            (tmp / channel).mkdir()
            for name, p in members:
                shutil.copyfile(p, tmp / channel / name)

        return self._plan(key, channel, fill)

    def _plan(self, key: str, entry: str, fill: Callable[[Path], None]) -> str:
        self._planned[key] = (entry, fill)
        uri = (self.root / key / entry).as_uri()
        self.addressed.add(uri)
        return uri

    def upload(self) -> None:
        """Write each planned entry in a temp folder and rename it into place: never half-written."""
        for key, (entry, fill) in self._planned.items():
            final = self.root / key
            if final.exists():
                continue
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
            try:
                fill(tmp)
                os.rename(tmp, final)
                log.info("Staged %s at %s", entry, final)
            except OSError:
                if not final.exists():  # a concurrent stager may have won the rename
                    raise
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        self._planned.clear()


class S3Stager:
    """AWS: content-addressed upload to S3, skipped when the object is already there.

    The object's metadata carries the full sha256; an object at the key without it (or with another
    one) is uploaded again rather than trusted.
    """

    allow_local = False

    def __init__(self, s3_client: Any, bucket: str, prefix: str = "", kms_key_id: str | None = None) -> None:
        self.client, self.bucket, self.prefix = s3_client, bucket, prefix.strip("/")
        self.kms_key_id = kms_key_id
        self.uploaded = 0
        self.skipped = 0
        self._planned: dict[str, tuple[str, Path | bytes]] = {}
        self.addressed: set[str] = set()

    def stage_file(self, path: str | Path) -> str:
        p = _existing(path, "file")
        sha = file_sha256(p)
        return self._plan(self._key(_digest("file", p.name, [("", sha)]), p.name), sha, p)

    def stage_dir(self, path: str | Path) -> str:
        p = _existing(path, "dir")
        files = [(rel, f, file_sha256(f)) for rel, f in dir_files(p)]
        if not files:
            raise ValueError(f"folder {path} holds no files: nothing to upload")
        base = self._key(_digest("dir", p.name, [(rel, sha) for rel, _, sha in files]), p.name)
        for rel, f, sha in files:
            self._plan(f"{base}/{rel}", sha, f)
        return self._addressed(base)

    def stage_bytes(self, data: bytes, filename: str) -> str:
        sha = hashlib.sha256(data).hexdigest()
        return self._plan(self._key(_digest("file", filename, [("", sha)]), filename), sha, data)

    def stage_channel(self, paths: list[Path], channel: str) -> str:
        members = [(name, p, file_sha256(p)) for name, p in channel_members(paths)]
        base = self._key(_digest("channel", channel, [(n, sha) for n, _, sha in members]), channel)
        for name, p, sha in members:
            self._plan(f"{base}/{name}", sha, p)
        return self._addressed(base)

    def upload(self) -> None:
        """Put every planned object that is not already there with the same sha256."""
        for key, (sha, source) in self._planned.items():
            self._put(key, sha, source)
        self._planned.clear()

    def _plan(self, key: str, sha: str, source: Path | bytes) -> str:
        self._planned[key] = (sha, source)
        return self._addressed(key)

    def _addressed(self, key: str) -> str:
        uri = self._uri(key)
        self.addressed.add(uri)
        return uri

    def _key(self, digest: str, name: str) -> str:
        return "/".join(part for part in (self.prefix, digest, name) if part)

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _already_there(self, key: str, sha: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return head.get("Metadata", {}).get("sha256") == sha

    def _put(self, key: str, sha: str, source: Path | bytes) -> None:
        if self._already_there(key, sha):
            self.skipped += 1
            log.info("Already staged, upload skipped: %s", self._uri(key))
            return
        extra: dict[str, Any] = {"Metadata": {"sha256": sha}}
        if self.kms_key_id:
            extra.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=self.kms_key_id)
        if isinstance(source, bytes):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=source, **extra)
            size = len(source)
        else:
            self.client.upload_file(str(source), self.bucket, key, ExtraArgs=extra)
            size = source.stat().st_size
        self.uploaded += 1
        log.info("Uploaded %s (%s) to %s", getattr(source, "name", "bytes"), _size(size), self._uri(key))
