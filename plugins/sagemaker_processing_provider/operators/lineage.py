"""Where a job read and wrote: result channels and OpenLineage datasets from a DescribeProcessingJob.

Only data counts: the channels the request builder adds itself (the script or app under
``input/code`` and ``input/entrypoint``, Spark's ``py-files``/``jars``/``files``/``conf`` and the event-log output) are
plumbing, not datasets, and are left out.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

PLUMBING_INPUTS = {
    f"/opt/ml/processing/input/{c}" for c in ("code", "entrypoint", "conf", "py-files", "jars", "files")
}
PLUMBING_OUTPUTS = {"/opt/ml/processing/spark-events"}


def job_channels(description: dict) -> tuple[dict[str, str], dict[str, str]]:
    """``({input_name: uri}, {output_name: uri})``: the data channels of a DescribeProcessingJob answer."""
    inputs = {
        i["InputName"]: i["S3Input"]["S3Uri"]
        for i in description.get("ProcessingInputs", [])
        if "S3Input" in i and i["S3Input"].get("LocalPath", "").rstrip("/") not in PLUMBING_INPUTS
    }
    outputs = {
        o["OutputName"]: o["S3Output"]["S3Uri"]
        for o in description.get("ProcessingOutputConfig", {}).get("Outputs", [])
        if "S3Output" in o and o["S3Output"].get("LocalPath", "").rstrip("/") not in PLUMBING_OUTPUTS
    }
    return inputs, outputs


def dataset_identity(uri: str) -> tuple[str, str]:
    """OpenLineage ``(namespace, name)`` of a URI: ``s3://bucket`` + key, or ``file`` + absolute path."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        return f"s3://{parsed.netloc}", parsed.path.lstrip("/")
    path = parsed.path if parsed.scheme == "file" else uri
    return "file", str(Path(path).resolve())


def lineage_facets(description: dict | None):
    """S3 (or local) inputs and outputs as OpenLineage datasets; ``None`` without OpenLineage."""
    try:
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError:
        return None
    if not description:
        return OperatorLineage()
    inputs, outputs = job_channels(description)
    return OperatorLineage(
        inputs=[Dataset(*dataset_identity(uri)) for uri in inputs.values()],
        outputs=[Dataset(*dataset_identity(uri)) for uri in outputs.values()],
    )
