from __future__ import annotations

import re

import pytest
from sagemaker_processing_provider.errors import RequestError
from sagemaker_processing_provider.request.names import job_name_for, validate_job_name

PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
IDENTITY = dict(
    dag_id="abalone_sklearn_pipeline",
    task_id="feature_engineering",
    run_id="scheduled__2026-11-24T00:00:00+00:00",
)


def name(**overrides):
    params = dict(base="abalone-fe", map_index=-1, try_number=1, **IDENTITY)
    params.update(overrides)
    return job_name_for(**params)


def test_name_shape_and_try_suffix():
    n = name()
    assert PATTERN.match(n) and len(n) <= 63
    assert re.fullmatch(r"abalone-fe-[0-9a-f]{12}-t1", n)


def test_deterministic_and_previous_try_differs_only_by_suffix():
    assert name() == name()
    first, second = name(try_number=1), name(try_number=2)
    assert first != second
    assert first.rsplit("-t", 1)[0] == second.rsplit("-t", 1)[0]
    assert second.endswith("-t2")


@pytest.mark.parametrize(
    "change",
    [
        {"dag_id": "other_dag"},
        {"task_id": "split"},
        {"run_id": "manual__2026-11-24T00:00:00+00:00"},
        {"map_index": 0},
        {"base": "other"},
    ],
)
def test_every_part_of_the_identity_changes_the_name(change):
    assert name(**change) != name()


def test_map_indexes_give_distinct_names():
    names = {name(map_index=i) for i in range(-1, 500)}
    assert len(names) == 501


def test_long_unicode_and_underscore_parts_stay_valid():
    n = name(base="très_long.base name/" * 10, dag_id="dag_ünïcode" * 20, try_number=12345)
    assert PATTERN.match(n) and 60 <= len(n) <= 63
    assert n.startswith("tr-s-long-base-name-")
    assert n.endswith("-t12345")


@pytest.mark.parametrize("base", ["", "___", "ééé", "-"])
def test_base_that_sanitizes_to_nothing_falls_back(base):
    n = name(base=base)
    assert PATTERN.match(n)
    assert n.startswith("abalone-sklearn-pipeline-feature-engineering-")


def test_trimmed_base_never_ends_in_a_dash():
    n = name(base="a" * 44 + "_b")
    assert PATTERN.match(n) and "--" not in n


@pytest.mark.parametrize(
    "bad", [{"try_number": -1}, {"try_number": "1"}, {"map_index": -2}, {"map_index": True}]
)
def test_bad_identity_values_are_refused(bad):
    with pytest.raises(RequestError):
        name(**bad)


@pytest.mark.parametrize("bad", ["", "a" * 64, "-abc", "abc-", "a_b", "a.b", "ünï", None])
def test_validate_job_name_refuses(bad):
    with pytest.raises(RequestError) as err:
        validate_job_name(bad)
    assert err.value.field == "job_name"


@pytest.mark.parametrize("good", ["a", "a" * 63, "a--b", "0-job"])
def test_validate_job_name_accepts(good):
    assert validate_job_name(good) == good
