"""The local requirements cache (``local/pyenv.py``): its key, concurrent first installs, the shims."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sagemaker_processing_provider.errors import RequirementsError
from sagemaker_processing_provider.local import pyenv, runtimes

ENSURE = (
    "import json, sys; from sagemaker_processing_provider.local.pyenv import ensure\n"
    "folder, pins, cached = ensure(['-r', sys.argv[1]], sys.argv[2])\n"
    "print(json.dumps({'folder': folder, 'pins': pins, 'cached': cached}))\n"
)


def test_concurrent_first_installs_of_one_key_build_it_once(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("cowsay==6.1\n")
    home = tmp_path / "home"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ENSURE, "requirements.txt", str(home)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    answers = []
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0
        answers.append(json.loads(out.strip().splitlines()[-1]))
    assert len({a["folder"] for a in answers}) == 1
    assert sorted(a["cached"] for a in answers) == [False, True, True]  # one built it, two waited and reused
    root = home / "pyenvs"
    assert [p.name for p in root.iterdir() if p.is_dir()] == [Path(answers[0]["folder"]).name]  # no .tmp-*
    assert {tuple(a["pins"]) for a in answers} == {("cowsay==6.1",)}
    meta = json.loads((Path(answers[0]["folder"]) / "sm-pyenv.json").read_text())
    assert meta["installed"] == ["cowsay==6.1"]


def test_key_covers_the_files_content_and_nested_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("base.txt").write_text("cowsay==6.1\n")
    Path("requirements.txt").write_text("-r base.txt  # shared pins\n")
    key = pyenv.environment_key(["-r", "requirements.txt"])
    assert pyenv.environment_key(["--requirement=requirements.txt"]) != key  # other arguments
    assert pyenv.environment_key(["-r", "requirements.txt"]) == key
    Path("base.txt").write_text("cowsay==6.0\n")
    assert pyenv.environment_key(["-r", "requirements.txt"]) != key


def test_pip_arguments_are_translated_or_refused() -> None:
    args = ["--no-cache-dir", "--progress-bar", "off", "-q", "-r", "r.txt", "--root-user-action=ignore", "x"]
    assert pyenv.uv_args(args) == ["-q", "-r", "r.txt", "x"]
    with pytest.raises(RequirementsError, match="--target"):
        pyenv.uv_args(["--target", "/somewhere", "x"])
    with pytest.raises(RequirementsError, match="nothing to install"):
        pyenv.uv_args(["--no-cache-dir"])


def test_record_puts_the_newest_overlay_first(tmp_path: Path) -> None:
    state = tmp_path / "state" / "pythonpath"
    pyenv.record("/a", str(state))
    pyenv.record("/b", str(state))
    pyenv.record("/a", str(state))
    assert state.read_text().strip() == os.pathsep.join(["/a", "/b"])


def test_shims_send_pip_install_to_the_cache_and_never_uninstall(tmp_path: Path) -> None:
    """The real shims, run outside a sandbox (their overlay file is absent here): pip is intercepted."""
    bin_dir = runtimes.shim_dir(runtimes.RUNTIMES["sklearn"], tmp_path)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    uninstall = subprocess.run(
        ["python3", "-m", "pip", "uninstall", "-y", "pandas"], env=env, capture_output=True, text=True
    )
    assert uninstall.returncode == 1 and "would change the project's environment" in uninstall.stderr
    refused = subprocess.run(
        ["pip", "install", "--target", "/x", "y"], env=env, capture_output=True, text=True
    )
    assert refused.returncode == 1 and refused.stderr.startswith("ERROR: pip install --target")
    plain = subprocess.run(["python3", "-c", "import sys; print(sys.prefix)"], env=env, capture_output=True)
    assert plain.stdout.decode().strip() == sys.prefix
