"""Outputs to local folders: atomic publish, user files kept, nothing on failure, Continuous copies."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sagemaker_processing_provider.errors import StagingError
from sagemaker_processing_provider.local.publish import OutputUploader


def output(
    uri: str, local: str = "/opt/ml/processing/output/result", name: str = "result", mode: str = "EndOfJob"
):
    return {"OutputName": name, "S3Output": {"S3Uri": uri, "LocalPath": local, "S3UploadMode": mode}}


def write(ml: Path, rel: str, body: str, local: str = "processing/output/result") -> Path:
    path = ml / local / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    return path


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def hosts(tmp_path: Path) -> list[Path]:
    mls = [tmp_path / "job/algo-1", tmp_path / "job/algo-2"]
    write(mls[0], "part-0.csv", "zero")
    write(mls[0], "sub/x.csv", "x")
    write(mls[1], "part-1.csv", "one")
    return mls


def test_new_destination_gets_all_hosts_files(hosts: list[Path], tmp_path: Path) -> None:
    for i, uri in enumerate([str(tmp_path / "out-plain"), (tmp_path / "out uri").as_uri()]):
        uploader = OutputUploader([output(uri)], hosts, f"job-{i}")
        uploader.start()
        uploader.finish(success=True)
    expected = {"part-0.csv": b"zero", "part-1.csv": b"one", "sub/x.csv": b"x"}
    assert tree(tmp_path / "out-plain") == tree(tmp_path / "out uri") == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "job",
        "out uri",
        "out-plain",
    ]  # no temp folder left


def test_existing_destination_keeps_user_files(hosts: list[Path], tmp_path: Path) -> None:
    dest = tmp_path / "out"
    (dest / "sub").mkdir(parents=True)
    (dest / "notes.txt").write_text("mine")
    (dest / "sub/keep.csv").write_text("mine too")
    (dest / "part-0.csv").write_text("stale result")
    OutputUploader([output(str(dest))], hosts, "job-1").finish(success=True)
    assert tree(dest) == {
        "notes.txt": b"mine",
        "part-0.csv": b"zero",  # produced by the job: replaced, as an S3 upload would
        "part-1.csv": b"one",
        "sub/keep.csv": b"mine too",
        "sub/x.csv": b"x",
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job", "out"]


def test_failed_job_leaves_nothing_at_destination(hosts: list[Path], tmp_path: Path) -> None:
    dest = tmp_path / "out"
    OutputUploader([output(str(dest))], hosts, "job-1").finish(success=False)
    assert not dest.exists()
    (dest).mkdir()
    (dest / "notes.txt").write_text("mine")
    OutputUploader([output(str(dest))], hosts, "job-2").finish(success=False)
    assert tree(dest) == {"notes.txt": b"mine"}


def test_clash_with_a_user_folder_changes_nothing(hosts: list[Path], tmp_path: Path) -> None:
    dest = tmp_path / "out"
    (dest / "part-1.csv").mkdir(parents=True)  # the user's folder where the job writes a file
    (dest / "part-1.csv/inside.txt").write_text("mine")
    (dest / "part-0.csv").write_text("old")
    with pytest.raises(StagingError, match="output 'result'"):
        OutputUploader([output(str(dest))], hosts, "job-1").finish(success=True)
    assert tree(dest) == {"part-0.csv": b"old", "part-1.csv/inside.txt": b"mine"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job", "out"]


def test_second_output_failing_rolls_back_the_first(hosts: list[Path], tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    (first / "part-0.csv").write_text("user's original")
    (first / "keep.txt").write_text("mine")
    second.write_text("a file where the second output's folder should be")
    write(hosts[0], "y.csv", "y", local="processing/output/other")
    outputs = [output(str(first)), output(str(second), "/opt/ml/processing/output/other", name="other")]
    with pytest.raises(StagingError, match="output 'other'.*not a folder"):
        OutputUploader(outputs, hosts, "job-1").finish(success=True)
    assert tree(first) == {"part-0.csv": b"user's original", "keep.txt": b"mine"}  # restored, new files gone
    assert not (first / "sub").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first", "job", "second"]


def test_symlinks_in_output_are_not_followed(tmp_path: Path) -> None:
    ml = tmp_path / "algo-1"
    real = write(ml, "real.csv", "real")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret/s.txt").write_text("s")
    os.symlink(real, real.parent / "link.csv")
    os.symlink(tmp_path / "secret", real.parent / "dir-link")
    OutputUploader([output(str(tmp_path / "out"))], [ml], "job-1").finish(success=True)
    assert tree(tmp_path / "out") == {"real.csv": b"real"}


def test_empty_or_missing_local_path_publishes_nothing(tmp_path: Path) -> None:
    ml = tmp_path / "algo-1"
    (ml / "processing/output/result").mkdir(parents=True)
    outputs = [
        output(str(tmp_path / "a")),
        output(str(tmp_path / "b"), "/opt/ml/processing/output/none", name="n"),
    ]
    OutputUploader(outputs, [ml], "job-1").finish(success=True)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_continuous_to_local_folder(tmp_path: Path) -> None:
    ml, dest = tmp_path / "algo-1", tmp_path / "events"
    uploader = OutputUploader([output(str(dest), mode="Continuous")], [ml], "job-1", interval=0.1)
    uploader.start()
    write(ml, "app.log", "started\n")
    deadline = time.monotonic() + 20
    while not (dest / "app.log").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (dest / "app.log").read_text() == "started\n"  # synced before finish
    write(ml, "app.log", "started\nfailed\n")
    uploader.finish(success=False)  # Continuous outputs are synced even when the job failed
    assert tree(dest) == {"app.log": b"started\nfailed\n"}
    assert [p.name for p in dest.iterdir()] == ["app.log"]  # no temp files left beside it


def _publish_at_once(mls: list[Path], dest: Path) -> list[BaseException]:
    """Every host folder published into ``dest`` by its own uploader, all released at one instant."""
    import threading

    barrier = threading.Barrier(len(mls))
    errors: list[BaseException] = []

    def publish(j: int) -> None:
        uploader = OutputUploader([output(str(dest))], [mls[j]], f"job-{j}")
        barrier.wait()
        try:
            uploader.finish(success=True)
        except BaseException as exc:  # collected and asserted by the caller
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=(j,)) for j in range(len(mls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_publishes_into_one_new_destination_never_fail_each_other(tmp_path: Path) -> None:
    """Item 3: ten jobs publishing into one new folder at the same instant all succeed (on main, the
    check-then-rename made the losers fail with "Directory not empty" / "No such file")."""
    jobs = 10
    for round_ in range(4):
        dest = tmp_path / f"shared-{round_}"
        mls = []
        for j in range(jobs):
            ml = tmp_path / f"r{round_}-job{j}/algo-1"
            for i in range(20):
                write(ml, f"job{j}-{i}.csv", f"{j}-{i}")
            write(ml, "common.csv", f"from {j}")
            mls.append(ml)
        assert _publish_at_once(mls, dest) == []
        published = tree(dest)
        assert {f"job{j}-{i}.csv" for j in range(jobs) for i in range(20)} <= set(published)
        assert published["common.csv"] in {f"from {j}".encode() for j in range(jobs)}  # last writer wins
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no scratch
