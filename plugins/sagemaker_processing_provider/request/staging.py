"""Where the local things a request names (code, deps, data, ``configuration.json``) are put.

The builder never touches storage itself; it asks a ``Stager`` for a URI. Two kinds:

- ``LocalStager`` (local backend): files and folders are used in place (``file://`` URIs); generated
  bytes and composed Spark channels are written once, content-addressed, under ``<home>/staging``.
- ``S3Stager`` (AWS): content-addressed upload to ``s3://<bucket>/<prefix>/<sha256[:16]>/<name>``,
  skipped when the key is already there: same bytes, same key, no clutter of per-job copies.

Every hash covers the entry's name and its bytes (a folder: sorted relative paths and each file's
bytes), so one hash folder holds exactly one entry and an ``S3Prefix`` URI matches nothing else.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlparse

log = logging.getLogger(__name__)

HASH_LENGTH = 16


@runtime_checkable
class Stager(Protocol):
    """What the request builder needs for anything local. ``allow_local``: may URIs stay local?"""

    allow_local: bool

    def stage_file(self, path: str | Path) -> str: ...

    def stage_dir(self, path: str | Path) -> str: ...

    def stage_bytes(self, data: bytes, filename: str) -> str: ...

    def stage_channel(self, paths: list[Path], channel: str) -> str: ...


# ---------------------------------------------------------------- content hashing


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


def channel_members(paths: Iterable[str | Path]) -> list[tuple[str, Path]]:
    """The files of a Spark deps channel: given files, plus the top-level files of given folders.

    That is what ``smspark-submit`` does with a folder in ``--py-files``/``--jars``/``--files``.
    Two entries with one file name would overwrite each other: a ``ValueError``.
    """
    members: dict[str, Path] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file())
            skipped = [p.name for p in path.iterdir() if p.is_dir()]
            if skipped:
                log.warning(
                    "%s: sub-folders %s are not passed to Spark (top-level files only)", path, skipped
                )
            if not found:
                raise ValueError(f"folder {path} holds no files")
        elif path.is_file():
            found = [path]
        else:
            raise ValueError(f"{path} is neither a file nor a folder")
        for p in found:
            if p.name in members and members[p.name].resolve() != p.resolve():
                raise ValueError(f"two files named {p.name!r}: {members[p.name]} and {p}")
            members[p.name] = p
    return sorted(members.items())


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


# ---------------------------------------------------------------- local backend


class LocalStager:
    """Local backend: use files and folders in place; write generated content under ``home/staging``."""

    allow_local = True

    def __init__(self, home: str | Path) -> None:
        self.root = Path(home).expanduser().resolve() / "staging"

    def stage_file(self, path: str | Path) -> str:
        return _existing(path, "file").as_uri()

    def stage_dir(self, path: str | Path) -> str:
        return _existing(path, "dir").as_uri()

    def stage_bytes(self, data: bytes, filename: str) -> str:
        key = _digest("file", filename, [("", hashlib.sha256(data).hexdigest())])
        return self._publish(key, filename, lambda tmp: (tmp / filename).write_bytes(data))

    def stage_channel(self, paths: list[Path], channel: str) -> str:
        members = channel_members(paths)
        key = _digest("channel", channel, [(name, file_sha256(p)) for name, p in members])

        def fill(tmp: Path) -> None:
            (tmp / channel).mkdir()
            for name, p in members:
                shutil.copyfile(p, tmp / channel / name)

        return self._publish(key, channel, fill)

    def _publish(self, key: str, entry: str, fill: Any) -> str:
        """Build ``<root>/<key>`` in a temp folder and rename it into place: never half-written."""
        final = self.root / key
        if not final.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
            try:
                fill(tmp)
                os.rename(tmp, final)
                log.info("Staged %s at %s", entry, final)
            except OSError:
                if not final.exists():
                    raise
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return (final / entry).as_uri()


# ---------------------------------------------------------------- AWS


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

    def stage_file(self, path: str | Path) -> str:
        p = _existing(path, "file")
        sha = file_sha256(p)
        key = self._key(_digest("file", p.name, [("", sha)]), p.name)
        self._put(key, sha, p)
        return self._uri(key)

    def stage_dir(self, path: str | Path) -> str:
        p = _existing(path, "dir")
        files = [(rel, f, file_sha256(f)) for rel, f in dir_files(p)]
        if not files:
            raise ValueError(f"folder {path} holds no files: nothing to upload")
        base = self._key(_digest("dir", p.name, [(rel, sha) for rel, _, sha in files]), p.name)
        for rel, f, sha in files:
            self._put(f"{base}/{rel}", sha, f)
        return self._uri(base)

    def stage_bytes(self, data: bytes, filename: str) -> str:
        sha = hashlib.sha256(data).hexdigest()
        key = self._key(_digest("file", filename, [("", sha)]), filename)
        self._put(key, sha, data)
        return self._uri(key)

    def stage_channel(self, paths: list[Path], channel: str) -> str:
        members = [(name, p, file_sha256(p)) for name, p in channel_members(paths)]
        base = self._key(_digest("channel", channel, [(n, sha) for n, _, sha in members]), channel)
        for name, p, sha in members:
            self._put(f"{base}/{name}", sha, p)
        return self._uri(base)

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
