"""The processing operations' input shapes, as a small cached copy of botocore's ``sagemaker`` model.

Why: botocore's whole ``sagemaker`` service model is ~400 KB of gzipped JSON, and loading it (plus
importing ``botocore.session``/``botocore.validate``, which pull urllib3 and dateutil) cost every
``sm-processing run`` ~0.2-0.4 s before a job even started (benchmarks/cli_run.py). The four
operations the local backend serves need only ~100 of its shapes. The first call on a machine
extracts them with botocore itself and writes them to
``$XDG_CACHE_HOME/sagemaker-processing-provider/sagemaker-shapes-<key>.json``; ``<key>`` changes with
the botocore installation and its model files, so an upgrade never reads a stale copy. Where botocore
could load another model than its own (``AWS_DATA_PATH``, ``~/.aws/models``, a ``data_path`` in the
AWS config), no copy is used at all.

``conforms`` is a check that accepts a value only if botocore's ``validate_parameters`` would: any
doubt (a type it does not model, a failure) sends the caller to botocore, whose error is the one
raised. So the copy makes the common case fast and never changes what is accepted or the message.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from sagemaker_processing_provider import user_cache

OPERATIONS = ("CreateProcessingJob", "DescribeProcessingJob", "StopProcessingJob", "ListProcessingJobs")
FORMAT = 1  # bump when the cached layout changes
# Shape types ``conforms`` checks itself; any other (timestamp, blob, document...) is left to botocore.
SCALARS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "boolean": (bool,),
    "float": (float, Decimal, int),
    "double": (float, Decimal, int),
}


class Shape:
    """The parts of ``botocore.model.Shape`` that validation reads (same attribute names)."""

    __slots__ = ("key", "member", "members", "metadata", "name", "special", "type_name", "value")

    def __init__(self, name: str, type_name: str, metadata: dict[str, Any], special: bool) -> None:
        self.name = name
        self.type_name = type_name
        self.metadata = metadata
        self.special = special  # botocore validates it in a way not mirrored here
        self.members: dict[str, Shape] = {}
        self.member: Shape | None = None
        self.key: Shape | None = None
        self.value: Shape | None = None


def _model_files() -> list[Path] | None:
    """botocore's own ``sagemaker`` model files, or None when botocore might load another model."""
    if os.environ.get("AWS_DATA_PATH") or (Path.home() / ".aws" / "models").exists():
        return None
    config = os.environ.get("AWS_CONFIG_FILE") or str(Path.home() / ".aws" / "config")
    try:
        if "data_path" in Path(config).read_text(errors="replace"):
            return None
    except OSError:
        pass
    spec = importlib.util.find_spec("botocore")
    if spec is None or spec.origin is None:
        return None
    return sorted((Path(spec.origin).parent / "data" / "sagemaker").glob("*/service-2*"))


def cache_file() -> Path | None:
    files = _model_files()
    if not files:
        return None
    digest = hashlib.sha256(str(FORMAT).encode())
    for f in files:
        st = f.stat()
        digest.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return user_cache.path(f"sagemaker-shapes-{digest.hexdigest()[:16]}.json")


def extract() -> dict[str, Any]:
    """The shapes the processing operations' inputs reach, from botocore's loaded model."""
    import botocore.session
    from botocore.utils import is_json_value_header

    model = botocore.session.get_session().get_service_model("sagemaker")
    shapes: dict[str, Any] = {}

    def visit(shape: Any) -> None:
        if shape.name in shapes:
            return
        special = (
            shape.type_name not in SCALARS
            and shape.type_name not in ("structure", "list", "map")
            or bool(getattr(shape, "serialization", {}).get("hostLabel"))
            or is_json_value_header(shape)
            or (shape.type_name == "structure" and shape.is_document_type)
        )
        entry: dict[str, Any] = {"type": shape.type_name, "metadata": shape.metadata, "special": special}
        shapes[shape.name] = entry
        if shape.type_name == "structure":
            entry["members"] = {k: m.name for k, m in shape.members.items()}
            for m in shape.members.values():
                visit(m)
        elif shape.type_name == "list":
            entry["member"] = shape.member.name
            visit(shape.member)
        elif shape.type_name == "map":
            entry["key"], entry["value"] = shape.key.name, shape.value.name
            visit(shape.key)
            visit(shape.value)

    roots = {}
    for operation in OPERATIONS:
        root = model.operation_model(operation).input_shape
        roots[operation] = root.name
        visit(root)
    return {"format": FORMAT, "roots": roots, "shapes": shapes}


def _build(data: dict[str, Any]) -> dict[str, Shape]:
    raw = data["shapes"]
    built = {n: Shape(n, s["type"], s["metadata"], s["special"]) for n, s in raw.items()}
    for name, s in raw.items():
        shape = built[name]
        shape.members = {k: built[v] for k, v in s.get("members", {}).items()}
        shape.member = built.get(s.get("member", ""))
        shape.key = built.get(s.get("key", ""))
        shape.value = built.get(s.get("value", ""))
    return {operation: built[root] for operation, root in data["roots"].items()}


@cache
def input_shapes() -> dict[str, Shape] | None:
    """Each processing operation's input shape from the cached copy (written on first use), or None."""
    path = cache_file()
    if path is None:
        return None
    try:
        data = json.loads(path.read_text())
        if data.get("format") == FORMAT:
            return _build(data)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    data = extract()
    user_cache.write(path, json.dumps(data, separators=(",", ":")))
    return _build(data)


def conforms(value: Any, shape: Shape) -> bool:
    """True only if botocore's ``validate_parameters`` accepts ``value`` for ``shape`` (False: ask it)."""
    if shape.special:
        return False
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            return False
        if "union" in meta and len(value) != 1:
            return False
        if any(r not in value for r in meta.get("required", ())):
            return False
        members = shape.members
        return all(k in members and conforms(v, members[k]) for k, v in value.items())
    if kind == "list":
        if not isinstance(value, list | tuple) or len(value) < meta.get("min", 0):
            return False
        member = shape.member
        return member is not None and all(conforms(item, member) for item in value)
    if kind == "map":
        if not isinstance(value, dict) or shape.key is None or shape.value is None:
            return False
        key, item = shape.key, shape.value
        return all(conforms(k, key) and conforms(v, item) for k, v in value.items())
    if not isinstance(value, SCALARS[kind]):
        return False
    if kind == "string":
        return len(value) >= meta.get("min", 0)
    if kind == "boolean":
        return True
    return "min" not in meta or value >= meta["min"]
