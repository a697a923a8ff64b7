"""The package registers itself with Airflow: `airflow providers list` (the real CLI) shows it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sagemaker_processing_provider import __version__, get_provider_info


def test_airflow_providers_list_shows_the_provider(tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    listed = {p["package_name"]: p for p in json.loads(out[out.index("[") :])}
    ours = listed["airflow-provider-sagemaker-processing"]
    assert ours["version"] == __version__
    assert ours["description"] == get_provider_info()["description"].rstrip(".")  # the CLI drops it


def test_provider_info_names_importable_modules_and_links() -> None:
    import importlib

    info = get_provider_info()
    for section in ("operators", "hooks", "triggers"):
        for module in info[section][0]["python-modules"]:
            importlib.import_module(module)
    for path in info["extra-links"]:
        module, name = path.rsplit(".", 1)
        assert hasattr(importlib.import_module(module), name)
