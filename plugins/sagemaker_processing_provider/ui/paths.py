"""Where the plugin's pages live, for the plugin itself and for the operator's extra links.

The links are same-origin paths (``/sm-processing/jobs/<name>``): the Airflow 3 UI renders an extra
link only when it is http(s) or resolves to its own origin, and a path keeps working whatever host
name the browser uses. When Airflow is served under a sub-path (``[api] base_url`` with a path),
the links carry it. Imported by the task process: standard library and Airflow's config only.
"""

from __future__ import annotations

from urllib.parse import quote, urlparse

URL_PREFIX = "/sm-processing"


def base_path() -> str:
    """The path part of ``[api] base_url`` without its trailing slash ("" when served at the root)."""
    try:
        from airflow.configuration import conf

        base_url = conf.get("api", "base_url", fallback="") or ""
    except Exception:  # outside Airflow (the CLI, the endpoint): links are root-relative
        base_url = ""
    return urlparse(base_url).path.rstrip("/")


def plugin_path(suffix: str = "") -> str:
    """An absolute path to a page of the plugin, e.g. ``plugin_path("/jobs")``."""
    return f"{base_path()}{URL_PREFIX}{suffix}"


def job_path(name: str) -> str:
    """The job's page (``name`` is a validated job name; quoted anyway, never trusted as a path)."""
    return plugin_path(f"/jobs/{quote(name, safe='')}")


def job_log_path(name: str) -> str:
    """The job's whole log as plain text."""
    return f"{job_path(name)}/log"
