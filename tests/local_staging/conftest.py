"""Fixtures for the staging tests (moto's server and ``aws_env`` come from tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def s3(aws_env: str):
    """A boto3 S3 client on the moto server; every bucket is emptied and deleted afterwards."""
    import boto3

    client = boto3.client("s3")
    yield client
    for bucket in client.list_buckets().get("Buckets", []):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for obj in page.get("Contents", []):
                client.delete_object(Bucket=bucket["Name"], Key=obj["Key"])
        client.delete_bucket(Bucket=bucket["Name"])
