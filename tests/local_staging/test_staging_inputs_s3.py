"""S3 inputs against moto's real server: S3Prefix string matching, manifests, sharding, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sagemaker_processing_provider.errors import StagingError
from sagemaker_processing_provider.local.staging import stage_inputs

BUCKET = "staging-in"
OBJECTS = {
    "data/train/a.csv": b"a",
    "data/train/sub/b.csv": b"bb",
    "data/train-extra.csv": b"ccc",
    "data/training/d.csv": b"dddd",
    "data/test/e.csv": b"eeeee",
    "data/folder-marker/": b"",
    "code/preprocess.py": b"print('hi')",
}


def s3_input(
    uri: str, local: str = "/opt/ml/processing/input/data", name: str = "data", **extra: str
) -> dict:
    spec = {"S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix", "S3InputMode": "File"}
    spec.update({"S3DataDistributionType": "FullyReplicated", "S3CompressionType": "None", **extra})
    return {"InputName": name, "S3Input": spec}


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def bucket(s3) -> str:
    s3.create_bucket(Bucket=BUCKET)
    for key, body in OBJECTS.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return BUCKET


def staged(tmp_path: Path, uri: str, **extra: str) -> dict[str, bytes]:
    stage_inputs([s3_input(uri, **extra)], tmp_path / "ml", 0, 1)
    return tree(tmp_path / "ml/processing/input/data")


def test_prefix_is_a_string_match_as_on_sagemaker(bucket: str, tmp_path: Path) -> None:
    # "data/train" also matches data/train-extra.csv and data/training/...; those keep their path
    # relative to the prefix's folder, while data/train/... lands directly under LocalPath.
    assert staged(tmp_path, f"s3://{bucket}/data/train") == {
        "a.csv": b"a",
        "sub/b.csv": b"bb",
        "train-extra.csv": b"ccc",
        "training/d.csv": b"dddd",
    }


def test_prefix_with_trailing_slash_is_that_folder_only(bucket: str, tmp_path: Path) -> None:
    assert staged(tmp_path, f"s3://{bucket}/data/train/") == {"a.csv": b"a", "sub/b.csv": b"bb"}


def test_single_object_and_whole_bucket(bucket: str, tmp_path: Path) -> None:
    assert staged(tmp_path / "one", f"s3://{bucket}/code/preprocess.py") == {"preprocess.py": b"print('hi')"}
    everything = staged(tmp_path / "all", f"s3://{bucket}")
    assert everything == {k: v for k, v in OBJECTS.items() if not k.endswith("/")}


def test_manifest_file_on_s3(bucket: str, s3, tmp_path: Path) -> None:
    manifest = [{"prefix": f"s3://{bucket}/data/"}, "train/a.csv", "test/e.csv"]
    s3.put_object(Bucket=bucket, Key="manifests/m.json", Body=json.dumps(manifest).encode())
    got = staged(tmp_path, f"s3://{bucket}/manifests/m.json", S3DataType="ManifestFile")
    assert got == {"train/a.csv": b"a", "test/e.csv": b"eeeee"}


def test_manifest_naming_a_missing_key_fails_naming_it(bucket: str, s3, tmp_path: Path) -> None:
    manifest = [{"prefix": f"s3://{bucket}/data/"}, "train/a.csv", "nope.csv"]
    s3.put_object(Bucket=bucket, Key="m.json", Body=json.dumps(manifest).encode())
    with pytest.raises(StagingError, match="nope.csv"):
        staged(tmp_path, f"s3://{bucket}/m.json", S3DataType="ManifestFile")


def test_sharded_by_s3_key_across_three_hosts(bucket: str, tmp_path: Path) -> None:
    uri = f"s3://{bucket}/data/"
    shards = []
    for host in range(3):
        ml = tmp_path / f"algo-{host + 1}"
        stage_inputs([s3_input(uri, S3DataDistributionType="ShardedByS3Key")], ml, host, 3)
        shards.append(tree(ml / "processing/input/data"))
    full = staged(tmp_path / "full", uri)
    names = [set(s) for s in shards]
    assert set().union(*names) == set(full) and sum(len(n) for n in names) == len(full) == 5
    assert all(not (names[i] & names[j]) for i in range(3) for j in range(i + 1, 3))
    keys = sorted(k[len("data/") :] for k in OBJECTS if k.startswith("data/") and not k.endswith("/"))
    assert [sorted(n) for n in names] == [sorted(keys[h::3]) for h in range(3)]
    assert all(shards[h][rel] == full[rel] for h in range(3) for rel in shards[h])


def test_prefix_matching_nothing_is_a_client_error_like_failure(bucket: str, tmp_path: Path) -> None:
    uri = f"s3://{bucket}/data/nothing-here/"
    with pytest.raises(StagingError, match="no objects or files found") as err:
        stage_inputs([s3_input(uri, name="raw")], tmp_path / "ml", 0, 1)
    assert err.value.channel == "input 'raw'" and err.value.uri == uri


def test_missing_bucket_names_the_error_code(s3, tmp_path: Path) -> None:
    with pytest.raises(StagingError, match="NoSuchBucket") as err:
        stage_inputs([s3_input("s3://no-such-bucket-here/x")], tmp_path / "ml", 0, 1)
    assert "s3://no-such-bucket-here/x" in str(err.value)


def test_keys_that_would_escape_local_path_are_refused(s3, tmp_path: Path) -> None:
    s3.create_bucket(Bucket="evil-keys")
    s3.put_object(Bucket="evil-keys", Key="p/../../../escape.txt", Body=b"x")
    with pytest.raises(StagingError, match="'..'"):
        stage_inputs([s3_input("s3://evil-keys/p/")], tmp_path / "ml", 0, 1)
    assert not list(tmp_path.rglob("escape.txt"))


def test_mixed_local_and_s3_inputs(bucket: str, tmp_path: Path) -> None:
    (tmp_path / "local.csv").write_text("local")
    inputs = [
        s3_input(f"s3://{bucket}/code/preprocess.py", "/opt/ml/processing/input/code", name="code"),
        s3_input(str(tmp_path / "local.csv"), "/opt/ml/processing/input/data", name="data"),
    ]
    stage_inputs(inputs, tmp_path / "ml", 0, 1)
    assert tree(tmp_path / "ml/processing/input") == {
        "code/preprocess.py": b"print('hi')",
        "data/local.csv": b"local",
    }
