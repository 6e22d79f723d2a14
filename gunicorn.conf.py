"""gunicorn's settings for this project; gunicorn reads this file from the folder it starts
in (`make run`, the README's production command). Command-line options still win.

- The access log names the path without its query string, the Referer or the HTTP Basic
  user: any of them may carry a code, a token or a secret a client put in the wrong place
  (SPEC §10). It ends with the response's X-Request-Id, the id of the request log's line.
- Metrics (identity_server.metrics): when they are on and PROMETHEUS_MULTIPROC_DIR is not
  set, a fresh temporary folder is used, so that /metrics counts every worker; the folder
  is emptied when gunicorn starts and a worker's live gauges are dropped when it exits.
"""

import os
import shutil
import tempfile

access_log_format = (
    '%(h)s - - %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(L)ss %({x-request-id}o)s'
)

_MULTIPROC = "PROMETHEUS_MULTIPROC_DIR"
_metrics_on = os.environ.get("METRICS_BEARER_TOKEN") or os.environ.get("METRICS_ALLOWED_ADDRESSES")
_own_dir = None
if _metrics_on and not os.environ.get(_MULTIPROC):
    # Set before any worker imports prometheus_client, which reads it once.
    _own_dir = os.environ[_MULTIPROC] = tempfile.mkdtemp(prefix="identity-metrics-")


def on_starting(server):
    if os.environ.get(_MULTIPROC):
        from identity_server import metrics

        metrics.multiprocess_dir_prepare(os.environ[_MULTIPROC])


def child_exit(server, worker):
    if os.environ.get(_MULTIPROC):
        from identity_server import metrics

        metrics.worker_exited(worker.pid)


def on_exit(server):
    if _own_dir:
        shutil.rmtree(_own_dir, ignore_errors=True)
