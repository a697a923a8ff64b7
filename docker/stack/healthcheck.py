"""Cheap healthchecks of the stack's Airflow jobs, without importing Airflow.

    python /opt/project/docker/stack/healthcheck.py TriggererJob|DagProcessorJob

Exit 0 when this container (Airflow's default hostname: the FQDN) has a running job of that type
whose heartbeat is less than ``MAX_AGE_S`` old, as ``airflow jobs check --hostname`` decides. Why not
``airflow jobs check``: it costs seconds of CPU per call to import Airflow, and Docker 20.10 does not
kill a healthcheck that times out, so on a busy 2-core machine they pile up and starve the stack.
"""

from __future__ import annotations

import os
import re
import socket
import sys

import psycopg2

MAX_AGE_S = 60
QUERY = """
SELECT count(*) FROM job
WHERE job_type = %s AND hostname = %s AND state = 'running'
  AND latest_heartbeat > now() - make_interval(secs => %s)
"""


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    job_type, hostname = sys.argv[1], socket.getfqdn()
    dsn = re.sub(r"^postgresql\+\w+://", "postgresql://", os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    with psycopg2.connect(dsn, connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute(QUERY, (job_type, hostname, MAX_AGE_S))
        (alive,) = cur.fetchone()
    if not alive:
        print(
            f"no running {job_type} on {hostname} with a heartbeat in the last {MAX_AGE_S} s", file=sys.stderr
        )
    return 0 if alive else 1


if __name__ == "__main__":
    sys.exit(main())
