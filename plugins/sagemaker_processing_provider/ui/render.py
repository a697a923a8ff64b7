"""The plugin's HTML: server-rendered, no JavaScript, every value escaped.

The pages are shown inside the Airflow UI (an iframe for the nav entry and the task-instance tab)
and on their own, so each is a complete document with its own small stylesheet and a way back to
the job list. Running jobs refresh themselves every few seconds.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import urlencode

from sagemaker_processing_provider.ui import jobs
from sagemaker_processing_provider.ui.paths import job_log_path, job_path, plugin_path

REFRESH_SECONDS = 5
CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2937;background:#fff}
header{padding:10px 20px;border-bottom:1px solid #e5e7eb;display:flex;gap:16px;align-items:baseline}
header a{color:#017cee;text-decoration:none;font-weight:600}
main{padding:16px 20px;max-width:1200px}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:24px 0 8px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eef0f3;vertical-align:top}
th{font-weight:600;color:#4b5563;background:#f9fafb}
a{color:#017cee}code,pre{font:12px/1.45 ui-monospace,SFMono-Regular,Menlo,monospace}
pre{background:#f6f8fa;border:1px solid #e5e7eb;padding:10px;overflow:auto;max-height:480px;white-space:pre-wrap}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.InProgress{background:#03a9f4}.Stopping{background:#f59e0b}.Completed{background:#16a34a}
.Failed{background:#dc2626}.Stopped{background:#6b7280}
.msg{padding:8px 12px;border-radius:6px;margin:8px 0}.ok{background:#ecfdf5;border:1px solid #a7f3d0}
.err{background:#fef2f2;border:1px solid #fecaca}
button{background:#dc2626;color:#fff;border:0;border-radius:6px;padding:6px 14px;font-weight:600;cursor:pointer}
form.filter{display:flex;gap:8px;margin:8px 0}form.filter button{background:#017cee}
.muted{color:#6b7280}#timeline td:first-child{width:15em;white-space:nowrap}
"""


def document(title: str, body: str, *, refresh: bool = False) -> str:
    head = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if refresh else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>{head}'
        f'<style>{CSS}</style></head><body><header><a href="{escape(plugin_path("/jobs"))}">'
        'SageMaker Processing jobs</a><span class="muted">local job store</span></header>'
        f"<main>{body}</main></body></html>"
    )


def badge(status: str) -> str:
    return f'<span class="badge {escape(status)}">{escape(status)}</span>'


def when(value: Any) -> str:
    if isinstance(value, datetime):
        return escape(value.isoformat(sep=" ", timespec="seconds"))
    return escape(str(value)) if value else ""


def message(text: str | None, *, error: bool = False) -> str:
    return f'<div class="msg {"err" if error else "ok"}" role="status">{escape(text)}</div>' if text else ""


def job_list(
    summaries: list[dict[str, Any]],
    *,
    status: str | None,
    name_contains: str | None,
    next_token: str | None,
    home: str,
) -> str:
    options = "".join(
        f'<option value="{s}"{" selected" if s == status else ""}>{s}</option>' for s in ("", *jobs.STATUSES)
    )
    rows = "".join(
        f'<tr><td><a href="{escape(job_path(j["ProcessingJobName"]))}">{escape(j["ProcessingJobName"])}</a></td>'
        f"<td>{badge(j['ProcessingJobStatus'])}</td><td>{when(j.get('CreationTime'))}</td>"
        f"<td>{when(j.get('ProcessingEndTime'))}</td><td>{escape(j.get('FailureReason', ''))}</td></tr>"
        for j in summaries
    )
    if not rows:
        rows = '<tr><td colspan="5" class="muted">No job matches.</td></tr>'
    more = ""
    if next_token:
        query = urlencode(
            {k: v for k, v in (("status", status), ("name", name_contains)) if v} | {"next": next_token}
        )
        more = f'<p><a href="{escape(plugin_path("/jobs"))}?{escape(query)}">Older jobs</a></p>'
    body = (
        f'<h1>Processing jobs</h1><p class="muted">Job store: <code>{escape(home)}</code> '
        "(jobs run by Airflow tasks, <code>sm-processing</code> or its endpoint)</p>"
        f'<form class="filter" method="get" action="{escape(plugin_path("/jobs"))}">'
        f'<input name="name" placeholder="name contains" value="{escape(name_contains or "")}">'
        f'<select name="status" aria-label="status">{options}</select><button type="submit">Filter</button></form>'
        "<table><thead><tr><th>Job</th><th>Status</th><th>Created</th><th>Ended</th><th>Reason</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>{more}"
    )
    return document("Processing jobs", body)


def job_detail(page: jobs.JobPage, *, note: str | None = None, error: str | None = None) -> str:
    d = page.description
    stop = (
        f'<form method="post" action="{escape(job_path(page.name))}/stop">'
        '<button type="submit">Stop job</button></form>'
        if page.stoppable
        else ""
    )
    facts = "".join(
        f"<tr><th>{escape(label)}</th><td>{value}</td></tr>"
        for label, value in (
            ("Status", badge(page.status)),
            ("ARN", f"<code>{escape(d.get('ProcessingJobArn', ''))}</code>"),
            ("Image", f"<code>{escape(d.get('AppSpecification', {}).get('ImageUri', ''))}</code>"),
            ("Failure reason", escape(d.get("FailureReason", ""))),
            ("Exit message", escape(d.get("ExitMessage", ""))),
        )
        if value
    )
    timeline = "".join(f"<tr><td>{when(t)}</td><td>{escape(event)}</td></tr>" for t, event in page.timeline)
    notes = "".join(f"<li>{escape(n)}</li>" for n in page.notes)
    skipped = (
        f'<p class="muted">{page.log_skipped} earlier bytes not shown: '
        f'<a href="{escape(job_log_path(page.name))}">the whole log</a></p>'
        if page.log_skipped
        else f'<p class="muted"><a href="{escape(job_log_path(page.name))}">Plain text</a></p>'
    )
    body = (
        f"<h1>{escape(page.name)}</h1>{message(note)}{message(error, error=True)}{stop}"
        f"<table>{facts}</table>"
        f'<h2>Timeline</h2><table id="timeline">{timeline}</table>'
        + (f"<h2>Backend notes</h2><ul>{notes}</ul>" if notes else "")
        + f'<h2>Outputs</h2><div id="outputs">{outputs(page.outputs)}</div>'
        f'<h2>Log</h2>{skipped}<pre id="log">{escape(chr(10).join(page.log)) or "(empty)"}</pre>'
        f'<h2>Request</h2><pre id="request">{escape(jobs.as_json(page.request))}</pre>'
    )
    return document(page.name, body, refresh=page.status not in jobs.TERMINAL)


def outputs(items: list[jobs.OutputListing]) -> str:
    if not items:
        return '<p class="muted">This job declares no outputs.</p>'
    parts = []
    for item in items:
        head = f'<h3>{escape(item.name)} <code class="muted">{escape(item.uri)}</code></h3>'
        if item.link:
            parts.append(
                f'{head}<p><a href="{escape(item.link)}" target="_blank" rel="noopener">Open in the S3 console</a></p>'
            )
        elif item.folder is None:
            parts.append(f'{head}<p class="muted">Not a local folder: nothing to list.</p>')
        elif not item.exists:
            parts.append(f'{head}<p class="muted">No folder {escape(item.folder)} on this server (yet).</p>')
        else:
            rows = "".join(
                f"<tr><td><code>{escape(p)}</code></td><td>{size(n)}</td></tr>" for p, n in item.files
            )
            more = (
                f'<p class="muted">Only the first {len(item.files)} files are listed.</p>'
                if item.truncated
                else ""
            )
            empty = '<tr><td colspan="2" class="muted">(empty)</td></tr>'
            parts.append(f"{head}<table><tr><th>File</th><th>Size</th></tr>{rows or empty}</table>{more}")
    return "".join(parts)


def size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def task_without_job(
    dag_id: str, run_id: str, task_id: str, job_name: str | None, job_url: str | None, home: str
) -> str:
    """The task-instance tab of a task with no job in this store: not a processing task (or not
    started yet), a job on AWS, or a job of another store (the API server's SM_PROCESSING_HOME)."""
    where = f"<p><code>{escape(dag_id)}</code> / <code>{escape(run_id)}</code> / <code>{escape(task_id)}</code></p>"
    if job_url and job_url.startswith("https://"):
        text = (
            f"<p>This task's job {escape(job_name or '')} runs on AWS: "
            f'<a href="{escape(job_url)}" target="_blank" rel="noopener">SageMaker console</a>.</p>'
        )
    elif job_name:
        text = (
            f"<p>This task ran job <code>{escape(job_name)}</code>, which is not in this server's job store "
            f"(<code>{escape(home)}</code>): set the same SM_PROCESSING_HOME for the API server as for the tasks.</p>"
        )
    else:
        text = "<p>This task instance recorded no processing job (not a processing task, or it has not created its job yet).</p>"
    return document("No processing job", f"<h1>No local processing job</h1>{where}{text}")


def error(status: int, title: str, detail: str) -> str:
    return document(
        title, f'<h1>{escape(title)}</h1>{message(detail, error=True)}<p class="muted">HTTP {status}</p>'
    )
