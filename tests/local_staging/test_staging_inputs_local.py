"""Local inputs (file:// and plain paths): copies, folders, sharding, manifests, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sagemaker_processing_provider.errors import ProcessingError, StagingError
from sagemaker_processing_provider.local.staging import stage_inputs


def s3_input(
    uri: str, local: str = "/opt/ml/processing/input/data", name: str = "data", **extra: str
) -> dict:
    spec = {"S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix", "S3InputMode": "File"}
    spec.update({"S3DataDistributionType": "FullyReplicated", "S3CompressionType": "None", **extra})
    return {"InputName": name, "S3Input": spec}


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    for rel, body in {"a.csv": "1", "b.csv": "22", "sub/c.csv": "333", "sub/deep/d.csv": "4444"}.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(body)
    return folder


def test_folder_by_plain_path_and_file_uri_copies_everything(src: Path, tmp_path: Path) -> None:
    for i, uri in enumerate([str(src), src.as_uri(), src.as_uri() + "/"]):
        ml = tmp_path / f"ml{i}"
        stage_inputs([s3_input(uri)], ml, 0, 1)
        assert tree(ml / "processing/input/data") == tree(src)


def test_single_file_lands_under_its_name(src: Path, tmp_path: Path) -> None:
    stage_inputs(
        [s3_input((src / "sub/c.csv").as_uri(), "/opt/ml/processing/input/code")], tmp_path / "ml", 0, 1
    )
    assert tree(tmp_path / "ml/processing/input/code") == {"c.csv": b"333"}


def test_staged_files_are_copies_the_source_stays_untouched(src: Path, tmp_path: Path) -> None:
    before = tree(src)
    stage_inputs([s3_input(str(src))], tmp_path / "ml", 0, 1)
    staged = tmp_path / "ml/processing/input/data/a.csv"
    assert staged.stat().st_ino != (src / "a.csv").stat().st_ino and staged.stat().st_nlink == 1
    staged.write_text("changed by the script")
    (tmp_path / "ml/processing/input/data/b.csv").unlink()
    assert tree(src) == before


def test_symlinked_file_is_copied_by_content_not_as_link(src: Path, tmp_path: Path) -> None:
    os.symlink(src / "a.csv", src / "link.csv")
    stage_inputs([s3_input(str(src))], tmp_path / "ml", 0, 1)
    staged = tmp_path / "ml/processing/input/data/link.csv"
    assert not staged.is_symlink() and staged.read_text() == "1"


def test_sharded_local_folder_across_three_hosts_is_a_disjoint_cover(src: Path, tmp_path: Path) -> None:
    for i in range(4, 9):
        (src / f"e{i}.csv").write_text(str(i))
    shards = []
    for host in range(3):
        ml = tmp_path / f"algo-{host + 1}"
        stage_inputs([s3_input(str(src), S3DataDistributionType="ShardedByS3Key")], ml, host, 3)
        shards.append(tree(ml / "processing/input/data"))
    names = [set(s) for s in shards]
    assert set().union(*names) == set(tree(src))
    assert all(not (names[i] & names[j]) for i in range(3) for j in range(i + 1, 3))
    ordered = sorted(tree(src))  # sorted relative paths, index % 3 == host
    assert names[1] == {rel for i, rel in enumerate(ordered) if i % 3 == 1}
    assert all(shards[h][rel] == tree(src)[rel] for h in range(3) for rel in shards[h])


def test_sharding_more_hosts_than_files_gives_some_hosts_nothing(src: Path, tmp_path: Path) -> None:
    file_uri = (src / "a.csv").as_uri()
    stage_inputs([s3_input(file_uri, S3DataDistributionType="ShardedByS3Key")], tmp_path / "h0", 0, 2)
    stage_inputs([s3_input(file_uri, S3DataDistributionType="ShardedByS3Key")], tmp_path / "h1", 1, 2)
    assert tree(tmp_path / "h0/processing/input/data") == {"a.csv": b"1"}
    assert tree(tmp_path / "h1/processing/input/data") == {}


def test_local_manifest_file(src: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "inputs.manifest"
    manifest.write_text(json.dumps([{"prefix": src.as_uri() + "/"}, "a.csv", "sub/deep/d.csv"]))
    stage_inputs([s3_input(str(manifest), S3DataType="ManifestFile")], tmp_path / "ml", 0, 1)
    assert tree(tmp_path / "ml/processing/input/data") == {"a.csv": b"1", "sub/deep/d.csv": b"4444"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not valid JSON"),
        (json.dumps(["a.csv"]), "expected a manifest"),
        (json.dumps([{"prefix": "/nowhere/"}, "../etc/passwd"]), "'..'"),
    ],
)
def test_bad_manifest_is_a_clear_error(tmp_path: Path, body: str, message: str) -> None:
    manifest = tmp_path / "m.json"
    manifest.write_text(body)
    with pytest.raises(StagingError, match=message) as err:
        stage_inputs([s3_input(str(manifest), S3DataType="ManifestFile", name="mani")], tmp_path / "ml", 0, 1)
    assert "input 'mani'" in str(err.value) and str(manifest) in str(err.value)


def test_missing_source_names_the_input_and_uri(tmp_path: Path) -> None:
    uri = (tmp_path / "missing").as_uri()
    with pytest.raises(StagingError, match="does not exist") as err:
        stage_inputs([s3_input(uri, name="raw")], tmp_path / "ml", 0, 1)
    assert isinstance(err.value, ProcessingError)
    assert err.value.channel == "input 'raw'" and err.value.uri == uri and uri in str(err.value)


def test_empty_folder_matches_nothing_and_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(StagingError, match="no objects or files found"):
        stage_inputs([s3_input(str(tmp_path / "empty"))], tmp_path / "ml", 0, 1)


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"S3InputMode": "Pipe"}, "S3InputMode"), ({"S3CompressionType": "Gzip"}, "S3CompressionType")],
)
def test_unsupported_modes_are_rejected(src: Path, tmp_path: Path, extra: dict, field: str) -> None:
    with pytest.raises(StagingError, match=field):
        stage_inputs([s3_input(str(src), **extra)], tmp_path / "ml", 0, 1)


@pytest.mark.parametrize("uri", ["relative/path", "http://example.com/x", "file://otherhost/x"])
def test_unsupported_uris_are_rejected(tmp_path: Path, uri: str) -> None:
    with pytest.raises(StagingError, match="input 'data'"):
        stage_inputs([s3_input(uri)], tmp_path / "ml", 0, 1)


def test_local_path_outside_opt_ml_is_rejected(src: Path, tmp_path: Path) -> None:
    with pytest.raises(StagingError, match="LocalPath"):
        stage_inputs([s3_input(str(src), "/tmp/elsewhere")], tmp_path / "ml", 0, 1)


def test_local_only_staging_never_imports_boto3(src: Path, tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from sagemaker_processing_provider.local.staging import stage_inputs\n"
        f"stage_inputs([{s3_input(str(src))!r}], Path({str(tmp_path / 'ml')!r}), 0, 1)\n"
        "assert 'boto3' not in sys.modules, 'boto3 imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert tree(tmp_path / "ml/processing/input/data") == tree(src)
