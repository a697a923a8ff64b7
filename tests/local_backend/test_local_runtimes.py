"""The image -> runtime table and its shims."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sagemaker_processing_provider.errors import UnsupportedImageError
from sagemaker_processing_provider.local import runtimes


@pytest.mark.parametrize(
    ("uri", "repo"),
    [
        (
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
            "sagemaker-scikit-learn",
        ),
        ("localhost:5000/team/img:tag", "team/img"),
        ("sagemaker-spark-processing@sha256:abc", "sagemaker-spark-processing"),
        ("team/img", "team/img"),
    ],
)
def test_repository_name(uri, repo):
    assert runtimes.repository_name(uri) == repo


def test_resolve_builtin_and_mapped_images(monkeypatch):
    ecr = "173754725891.dkr.ecr.us-east-1.amazonaws.com"
    assert runtimes.resolve(f"{ecr}/sagemaker-spark-processing:3.5-cpu").name == "spark"
    assert runtimes.resolve(f"{ecr}/sagemaker-scikit-learn:1.2-1-cpu-py3").name == "sklearn"
    with pytest.raises(UnsupportedImageError, match="my-team/sk"):
        runtimes.resolve("my-team/sk:1")
    monkeypatch.setenv(runtimes.IMAGE_MAP_ENV, '{"^my-team/sk$": "sklearn"}')
    assert runtimes.resolve("my-team/sk:1").name == "sklearn"
    monkeypatch.setenv(runtimes.IMAGE_MAP_ENV, '{"x": "cobol"}')
    with pytest.raises(UnsupportedImageError, match="unknown runtime 'cobol'"):
        runtimes.resolve("x")


def test_shims_run_the_project_python(tmp_path):
    spark = runtimes.RUNTIMES["spark"]
    bin_dir = runtimes.shim_dir(spark, tmp_path)
    out = subprocess.run(
        [bin_dir / "python3", "-c", "import sys; print(sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == sys.prefix  # the venv, not the base interpreter
    assert "smspark_submit" in (bin_dir / "smspark-submit").read_text()
    assert runtimes.shim_dir(spark, tmp_path) == bin_dir  # idempotent
