"""The one shape of the three Abalone pipelines: feature engineering -> split -> validation.

Each DAG file only says which operator runs each step (script, jar, main class); the schedule, retries,
Params, data locations and channels live here, so the scikit-learn, PySpark and Scala pipelines cannot
drift apart. Values are resolved when a task runs (Jinja macros), so the worker's environment counts.

Where the data is and where the results go:

- input: Param ``input_uri`` > Airflow Variable ``abalone_input_uri`` > the shipped ``data/abalone.csv``;
- outputs: ``<root>/<dag_id>/<run_id made path-safe>/{features,transform,train,validation,test,report}``
  with root = Param ``output_root_uri`` > Variable ``abalone_output_root_uri`` >
  ``$SM_PROCESSING_HOME/pipelines`` (``~/.sm-processing/pipelines`` when unset; ``make run`` uses
  ``./.sm-processing``); the validation report is ``.../report/validation_report.{json,md}``;
- role: Param ``role_arn`` > Variable ``sagemaker_processing_role_arn`` > none (the local backend
  needs none; AWS refuses to run without one);
- uploaded code (AWS code path): Variable ``sagemaker_processing_code_location`` (``s3://bucket/prefix``)
  > the SageMaker SDK's default bucket ``sagemaker-<region>-<account>`` (asks STS for the account).

Where the jobs run: Param ``aws_conn_id`` names the Airflow connection (default ``aws_default``); its
extra ``processing_backend`` picks the local backend or SageMaker (AWS, or any SageMaker endpoint its
``service_config`` names, as the compose stack's ``sagemaker_processing_stack_aws``). Same DAG, same
code, one field of the trigger form.

On AWS, set the input and output root to ``s3://`` URIs: Params for one manual run, Variables for the
schedule. Nothing heavy is imported here (no SageMaker SDK, boto3, scikit-learn, pandas, pyspark).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from airflow.sdk import DAG, BaseOperator, Param, Variable, chain
from airflow.sdk.exceptions import AirflowFailException
from jinja2 import pass_context

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_FILE = REPO_ROOT / "data" / "abalone.csv"
SCRIPTS_DIR = REPO_ROOT / "processing_scripts"
JAR_FILE = REPO_ROOT / "scala_jobs" / "target" / "abalone-jobs.jar"
PROCESSING = "/opt/ml/processing"

VAR_INPUT_URI = "abalone_input_uri"
VAR_OUTPUT_ROOT_URI = "abalone_output_root_uri"
VAR_ROLE_ARN = "sagemaker_processing_role_arn"
VAR_CODE_LOCATION = "sagemaker_processing_code_location"
DEFAULT_CONN_ID = "aws_default"
OUTPUT_SUBDIR = "pipelines"
MAX_RUNTIME_SECONDS = 3600
# More than one: unpausing a DAG (the trigger form's default) first creates the scheduled run of the
# latest interval, and a manual run must not queue behind it. Runs cannot collide: each writes under
# its own run folder and its jobs' names hash the run.
MAX_ACTIVE_RUNS = 4
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "ml-platform",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,  # 1 min, 2 min: rides out throttling
    "max_retry_delay": timedelta(minutes=10),
}


# -- where things are (pure functions: also used by scripts/local_airflow.py and the tests) ----------


def path_safe(run_id: str) -> str:
    """A run id as one path segment / S3 key part: ``manual__2026-01-01T00:00:00+00:00`` -> ``..T00_00_00_00_00``."""
    return _UNSAFE.sub("_", run_id).strip("_") or "run"


def default_output_root(environ: dict[str, str] | None = None) -> str:
    """``$SM_PROCESSING_HOME/pipelines`` (default home ``~/.sm-processing``, as the local backend)."""
    env = os.environ if environ is None else environ
    home = env.get("SM_PROCESSING_HOME") or "~/.sm-processing"
    return str(Path(home).expanduser().resolve() / OUTPUT_SUBDIR)


def join_uri(root: str, *parts: str) -> str:
    """Join URI/path segments with single slashes (``s3://b/p/`` + ``x`` -> ``s3://b/p/x``)."""
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])


def run_uri(root: str, dag_id: str, run_id: str, name: str = "") -> str:
    """The folder (or S3 prefix) of one run's output ``name``; the run folder itself when ``name`` is empty."""
    parts = [dag_id, path_safe(run_id)] + ([name] if name else [])
    return join_uri(root, *parts)


def _first(*values: Any) -> Any:
    """The first value that is not None/empty (a Param left blank in the UI falls through)."""
    for value in values:
        if value not in (None, ""):
            return value
    return None


def _variable(key: str) -> str | None:
    return Variable.get(key, default=None)


# -- Jinja macros: resolved at run time, visible in the task's "Rendered Template" --------------------


@pass_context
def abalone_input_uri(context: Any) -> str:
    return str(_first(context["params"].get("input_uri"), _variable(VAR_INPUT_URI), str(DATA_FILE)))


@pass_context
def abalone_output_root(context: Any) -> str:
    return str(
        _first(
            context["params"].get("output_root_uri"), _variable(VAR_OUTPUT_ROOT_URI), default_output_root()
        )
    )


@pass_context
def abalone_run_uri(context: Any, name: str = "") -> str:
    return run_uri(abalone_output_root(context), context["dag"].dag_id, context["run_id"], name)


@pass_context
def abalone_role_arn(context: Any) -> str:
    return str(_first(context["params"].get("role_arn"), _variable(VAR_ROLE_ARN)) or "")


@pass_context
def abalone_code_location(context: Any) -> str:
    """Blank: the operator's default (unused locally; the SDK's default bucket on the AWS code path)."""
    return str(_variable(VAR_CODE_LOCATION) or "")


MACROS = {
    "abalone_input_uri": abalone_input_uri,
    "abalone_output_root": abalone_output_root,
    "abalone_run_uri": abalone_run_uri,
    "abalone_role_arn": abalone_role_arn,
    "abalone_code_location": abalone_code_location,
}


# -- Params: the manual-trigger form -----------------------------------------------------------------


def pipeline_params(*, spark: bool) -> dict[str, Param]:
    """The trigger form; blank URIs fall back to Variables, then to the local defaults (module doc)."""
    params = {
        "aws_conn_id": Param(
            DEFAULT_CONN_ID,
            type="string",
            minLength=1,
            title="Connection",
            description="Airflow AWS connection the jobs run through; its extra processing_backend picks "
            "the local backend or SageMaker. Compose stack: aws_default (local backend, local paths) or "
            "sagemaker_processing_stack_aws (the AWS code path on the stack's endpoint and S3: give "
            "s3:// URIs).",
        ),
        "input_uri": Param(
            None,
            type=["null", "string"],
            title="Input URI",
            description=f"CSV/Parquet file or folder (s3://, file:// or a path). Blank: Variable "
            f"{VAR_INPUT_URI}, else the shipped {DATA_FILE}.",
        ),
        "output_root_uri": Param(
            None,
            type=["null", "string"],
            title="Output root URI",
            description=f"Results go to <root>/<dag_id>/<run_id>/... Blank: Variable {VAR_OUTPUT_ROOT_URI}, "
            "else $SM_PROCESSING_HOME/pipelines.",
        ),
        "train_ratio": Param(0.7, type="number", exclusiveMinimum=0, exclusiveMaximum=1, title="Train ratio"),
        "validation_ratio": Param(
            0.15,
            type="number",
            minimum=0,
            exclusiveMaximum=1,
            title="Validation ratio",
            description="The test split gets the rest; train + validation must stay below 1.",
        ),
        "seed": Param(42, type="integer", minimum=0, title="Split seed", description="Seed of the row hash."),
        "min_r2": Param(
            0.3,
            type="number",
            maximum=1,
            title="Minimum baseline R^2",
            description="Validation fails when the baseline regressor's R^2 on validation or test is lower.",
        ),
        "instance_type": Param(
            "ml.m5.xlarge",
            type="string",
            pattern=r"^ml\.[a-z0-9-]+\.[a-z0-9]+$",
            title="Instance type",
            description="SageMaker Processing instance type (the local backend runs on this machine).",
        ),
        "role_arn": Param(
            None,
            type=["null", "string"],
            title="Execution role ARN",
            description=f"Required on AWS. Blank: Variable {VAR_ROLE_ARN}; the local backend needs none.",
        ),
    }
    if spark:
        params["instance_count"] = Param(
            1,
            type="integer",
            minimum=1,
            maximum=1,  # these jobs move their part files into place on the driver: with more
            # instances the files other hosts' executors commit would be lost (README, "Files")
            title="Instance count",
            description="1: these jobs write their outputs from the driver (see the README's "
            "'Spark on several instances' for jobs that run on a cluster).",
        )
    return params


# -- the steps -------------------------------------------------------------------------------------


class Step(NamedTuple):
    """One step's engine-independent part; ``job`` names the script / main class (``validate``, ...).

    Immutable; a NamedTuple rather than a frozen dataclass, whose generated methods cost every DAG
    file's parse ~0.7 ms more (benchmarks/dag_parse_time.py)."""

    task_id: str
    job: str
    inputs: tuple[tuple[str, str], ...]  # (input_name, source template)
    outputs: tuple[str, ...]  # output names; destination = the run folder's subfolder of that name
    arguments: tuple[str, ...]

    def operator_kwargs(self, dag_id: str, *, spark: bool) -> dict[str, Any]:
        """Everything an operator takes that is the same for the three engines."""
        return {
            "task_id": self.task_id,
            "base_job_name": f"{dag_id}-{self.task_id}".replace("_", "-"),
            "aws_conn_id": "{{ params.aws_conn_id }}",
            "role": "{{ abalone_role_arn() }}",
            "code_location": "{{ abalone_code_location() }}",
            "instance_type": "{{ params.instance_type }}",
            "instance_count": "{{ params.instance_count }}" if spark else 1,
            "max_runtime_in_seconds": MAX_RUNTIME_SECONDS,
            "inputs": [
                {"source": source, "destination": f"{PROCESSING}/input/{name}", "input_name": name}
                for name, source in self.inputs
            ],
            "outputs": [
                {
                    "source": f"{PROCESSING}/output/{name}",
                    "destination": f"{{{{ abalone_run_uri('{name}') }}}}",
                    "output_name": name,
                }
                for name in self.outputs
            ],
            "arguments": list(self.arguments),
        }


def _run(name: str) -> str:
    return f"{{{{ abalone_run_uri('{name}') }}}}"


STEPS: tuple[Step, ...] = (
    Step(
        task_id="feature_engineering",
        job="feature_engineering",
        inputs=(("data", "{{ abalone_input_uri() }}"),),
        outputs=("features", "transform"),
        arguments=(
            "--train-ratio",
            "{{ params.train_ratio }}",
            "--validation-ratio",
            "{{ params.validation_ratio }}",
            "--seed",
            "{{ params.seed }}",
        ),
    ),
    Step(
        task_id="split",
        job="split",
        inputs=(("features", _run("features")),),
        outputs=("train", "validation", "test"),
        arguments=("--format", "parquet"),
    ),
    Step(
        task_id="validation",
        job="validate",
        inputs=(
            ("train", _run("train")),
            ("validation", _run("validation")),
            ("test", _run("test")),
            ("raw", "{{ abalone_input_uri() }}"),
            ("transform", _run("transform")),
        ),
        outputs=("report",),
        arguments=("--min-r2", "{{ params.min_r2 }}"),
    ),
)


def pipeline_dag(
    dag_id: str,
    *,
    engine: str,
    make_task: Callable[[Step, dict[str, Any]], BaseOperator],
    spark: bool = False,
    doc_md: str | None = None,
) -> DAG:
    """Build the DAG: ``make_task(step, common_kwargs)`` returns the engine's operator for one step."""
    with DAG(
        dag_id=dag_id,
        description=f"Abalone feature engineering -> split -> validation with {engine} on SageMaker Processing",
        schedule="@daily",
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=MAX_ACTIVE_RUNS,
        default_args=DEFAULT_ARGS,
        params=pipeline_params(spark=spark),
        user_defined_macros=MACROS,
        tags=["abalone", "sagemaker-processing", engine],
        doc_md=doc_md or __doc__,
    ) as dag:
        chain(*(make_task(step, step.operator_kwargs(dag_id, spark=spark)) for step in STEPS))
    return dag


def require_local_file(attribute: str, hint: str) -> Callable[[Any], None]:
    """A ``pre_execute`` hook: fail (without retrying) when the task's local file is missing.

    Used for the Scala jar, which is built, never committed: the DAG must parse without it and say how
    to build it at run time. URIs (``s3://...``) are left to the operator.
    """

    def check(context: Any) -> None:
        value = str(getattr(context["task"], attribute))
        if "://" in value and not value.startswith("file://"):
            return
        path = Path(value.removeprefix("file://"))
        if not path.is_file():
            raise AirflowFailException(f"{attribute} {str(path)!r} does not exist. {hint}")

    return check
