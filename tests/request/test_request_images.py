"""Image URIs come from the SDK's table, asked once per machine (a small on-disk cache)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sagemaker_processing_provider.errors import RequestError

SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ASK = (
    "import sys, json\n"
    "from sagemaker_processing_provider.request.images import sklearn_image_uri\n"
    "uri = sklearn_image_uri(sys.argv[1], 'us-east-1', 'ml.m5.xlarge')\n"
    "print(json.dumps([uri, 'sagemaker.core' in sys.modules]))\n"
)


def ask(cache_home: Path, framework_version: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    return subprocess.run(
        [sys.executable, "-c", ASK, framework_version], env=env, capture_output=True, text=True
    )


def test_the_sdk_is_asked_once_then_the_cache_answers(tmp_path: Path) -> None:
    first = ask(tmp_path, "1.2-1")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == [SKLEARN_IMAGE, True]  # the SDK answered
    again = ask(tmp_path, "1.2-1")
    assert json.loads(again.stdout) == [SKLEARN_IMAGE, False]  # the cache answered: no SDK import
    cache = json.loads((tmp_path / "sagemaker-processing-provider" / "image-uris.json").read_text())
    assert list(cache.values()) == [SKLEARN_IMAGE]


def test_a_refused_version_is_not_cached_and_a_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    cache = tmp_path / "sagemaker-processing-provider" / "image-uris.json"
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    refused = ask(tmp_path, "0.0-0")
    assert refused.returncode != 0 and "framework_version" in refused.stderr
    assert json.loads(ask(tmp_path, "1.2-1").stdout)[0] == SKLEARN_IMAGE
    assert "0.0-0" not in cache.read_text()


def test_unknown_version_names_the_field(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from sagemaker_processing_provider.request.images import sklearn_image_uri

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(RequestError) as info:
        sklearn_image_uri("9.9-9", "us-east-1")
    assert info.value.field == "framework_version"
