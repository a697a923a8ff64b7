"""Creates the stack's S3 buckets (``S3_BUCKETS``, comma-separated) and uploads the sample data to
``s3://<first bucket>/data/abalone.csv``, idempotently. Endpoint and credentials come from the
environment (``AWS_ENDPOINT_URL_S3``, ``AWS_ACCESS_KEY_ID``, ...), as for every S3 client in the stack."""

from __future__ import annotations

import os
from pathlib import Path

DATA_FILE = Path("/opt/project/data/abalone.csv")
DATA_KEY = "data/abalone.csv"


def main() -> None:
    import boto3
    from botocore.exceptions import ClientError

    buckets = [b.strip() for b in os.environ.get("S3_BUCKETS", "").split(",") if b.strip()]
    if not buckets:
        raise SystemExit("S3_BUCKETS is empty: name at least one bucket in .env")
    s3 = boto3.client("s3")
    for bucket in buckets:
        try:
            s3.create_bucket(Bucket=bucket)
            print(f"init: created bucket s3://{bucket}")
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
            print(f"init: bucket s3://{bucket} exists")
    s3.upload_file(str(DATA_FILE), buckets[0], DATA_KEY)
    print(f"init: uploaded {DATA_FILE.name} to s3://{buckets[0]}/{DATA_KEY}")


if __name__ == "__main__":
    main()
