"""The project's server: granian's WSGI server, as `make run`, the README's production
command, the bench and the tests start it.

    python -m identity_server.serve [--bind 127.0.0.1:8000] [--workers 2] [--access-log PATH|-]

Why granian rather than gunicorn (issue 18): HTTP parsing, connections and keep-alive are
handled in Rust, so a worker's CPU goes to the request. On the token endpoint, in
interleaved wrk runs on a 2-core machine, it served a median 2.5 to 2.7 times gunicorn's
requests per second (sync workers, which close every connection, or gthread workers with
keep-alive), at 0.60-0.67 ms of CPU per request against 0.81-1.23.

- `--workers` processes, each answering with one thread (`--blocking-threads 1`): the
  project is synchronous, and a thread per worker keeps one database connection each. A
  worker that fails is started again; on stop, workers get 5 seconds to finish.
- Metrics (identity_server.metrics): when they are on and PROMETHEUS_MULTIPROC_DIR is not
  set, a fresh temporary folder is used (removed on exit), so that /metrics counts every
  worker; the folder is emptied before the workers start. A scrape drops the live gauges of
  workers that have gone.
- The access log (off unless `--access-log`): the path without its query string, which
  may carry a code, a token or a secret a client put in the wrong place (SPEC §10); the
  request log line (identity_server.requestlog) has the request id.

- granian builds each request's environ on a copy of the process's environment, as PEP
  3333 allows: DATABASE_URL and every other setting would be in request.META (and on a DEBUG
  error page), and a variable named like a header (HTTP_PROXY) would read as one the client
  sent. identity_server.wsgi takes them out (`without_process_environment`).
- A body already in memory goes back to granian as a one-item list (`body_in_one_piece`).

Nothing here imports Django: the workers load `identity_server.wsgi` themselves.
"""

import argparse
import copy
import os
import shutil
import sys
import tempfile

from granian import Granian
from granian.constants import Interfaces
from granian.log import LOGGING_CONFIG

_MULTIPROC = "PROMETHEUS_MULTIPROC_DIR"  # identity_server.metrics.MULTIPROC_DIR_VARIABLE
KILL_TIMEOUT_SECONDS = 5
ACCESS_LOG_FORMAT = (
    '%(addr)s - - [%(time)s] "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).1fms'
)


# What a server sets for the request (PEP 3333's CGI variables): kept whatever the
# process's environment says.
_REQUEST_VARIABLES = {
    *("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE"),
    *("CONTENT_LENGTH", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR"),
    *("REMOTE_PORT", "GATEWAY_INTERFACE", "SERVER_SOFTWARE"),
}


def process_environment() -> dict:
    """The process's environment variables that a request's environ may carry a copy of."""
    return {name: value for name, value in os.environ.items() if name not in _REQUEST_VARIABLES}


def without_process_environment(environ: dict, process: dict) -> dict:
    """`environ` without the `process_environment()` variables in it with the process's
    value (the request's own keys stay)."""
    for name in process.keys() & environ.keys():
        if environ[name] == process[name]:
            del environ[name]
    return environ


def body_in_one_piece(response):
    """A Django response whose body is in memory, as a one-item list (PEP 3333 allows any
    iterable), closed: granian then writes it with its headers in one buffer instead of
    pulling it through the response's iterator (about 0.015 ms of CPU per token request,
    measured under wrk). A streaming response (a file) is returned as it is. Closing is the
    server's job for an iterable that has close(); it is done here once the body is taken,
    which sends Django's request_finished as before."""
    if getattr(response, "streaming", True):
        return response
    try:
        return [response.content]
    finally:
        response.close()


def _arguments(argv):
    parser = argparse.ArgumentParser(prog="python -m identity_server.serve")
    parser.add_argument("--bind", default="127.0.0.1:8000", help="HOST:PORT")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--access-log", help="a file, or - for standard output; off if absent")
    return parser.parse_args(argv)


def _logging(access_log: str | None) -> dict:
    config = copy.deepcopy(LOGGING_CONFIG)
    if access_log and access_log != "-":
        config["handlers"]["access"] = {
            "formatter": "access",
            "class": "logging.FileHandler",
            "filename": access_log,
        }
    return config


def server(argv=None) -> Granian:
    args = _arguments(argv)
    host, _, port = args.bind.rpartition(":")
    return Granian(
        "identity_server.wsgi:application",
        address=host or "127.0.0.1",
        port=int(port),
        interface=Interfaces.WSGI,
        workers=args.workers,
        blocking_threads=1,
        respawn_failed_workers=True,
        # On stop, a worker has this long to finish its requests before it is killed: also
        # what stops one signalled while it was still starting, which would not hear it.
        workers_kill_timeout=KILL_TIMEOUT_SECONDS,
        log_access=bool(args.access_log),
        log_access_format=ACCESS_LOG_FORMAT,
        log_dictconfig=_logging(args.access_log),
    )


def main(argv=None) -> None:
    own_dir = None
    metrics_on = os.environ.get("METRICS_BEARER_TOKEN") or os.environ.get(
        "METRICS_ALLOWED_ADDRESSES"
    )
    if metrics_on and not os.environ.get(_MULTIPROC):
        own_dir = os.environ[_MULTIPROC] = tempfile.mkdtemp(prefix="identity-metrics-")
    if os.environ.get(_MULTIPROC):
        # Imported only now: prometheus_client reads the variable once, when imported, and
        # the workers are forked from this process.
        from identity_server import metrics

        metrics.multiprocess_dir_prepare(os.environ[_MULTIPROC])
    try:
        server(argv).serve()
    finally:
        if own_dir:
            shutil.rmtree(own_dir, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
