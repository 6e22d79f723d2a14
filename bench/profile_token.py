"""In-process cost of a warm client-secret token request through the WSGI application.

    .venv/bin/python bench/profile_token.py CLIENT_ID SECRET [N] [--profile] 2>/dev/null

Calls `identity_server.wsgi.application` N times (2,000) with the environ a WSGI server
would build for wrk's request (bench/token.lua), after a warm-up, and prints CPU milliseconds
per request (best of 5 rounds); `--profile` also prints cProfile's top functions. No
server, no socket: what the project itself costs a worker per token. Production settings
(DEBUG off) as in bench/run.py. The request log goes to stderr: redirect it.
"""

import cProfile
import io
import os
import pstats
import sys
import time
from urllib.parse import urlencode

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "identity_server.settings")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
os.environ.setdefault("IDENTITY_ISSUER", "https://127.0.0.1/identity_")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from identity_server.wsgi import application


def environ(body: bytes) -> dict:
    return {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/identity_/connect/token",
        "QUERY_STRING": "",
        "RAW_URI": "/identity_/connect/token",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_ACCEPT": "application/json",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def one(body: bytes) -> None:
    status = []
    result = application(environ(body), lambda s, h, exc_info=None: status.append(s))
    try:
        b"".join(result)
    finally:
        if hasattr(result, "close"):  # PEP 3333: only when the iterable has one
            result.close()
    if not status[0].startswith("200"):
        raise SystemExit(f"token request answered {status[0]}")


def main() -> None:
    client_id, secret = sys.argv[1], sys.argv[2]
    rest = [a for a in sys.argv[3:] if not a.startswith("--")]
    n = int(rest[0]) if rest else 2000
    body = urlencode(
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    ).encode()
    for _ in range(200):
        one(body)
    # CPU time of this process, not the wall clock: what a worker pays, and less at the
    # mercy of the machine's other load (still noisy: compare A/B interleaved).
    rounds = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(n):
            one(body)
        rounds.append((time.process_time() - started) * 1000 / n)
    print(f"cpu ms/request best {min(rounds):.3f} rounds {' '.join(f'{r:.3f}' for r in rounds)}")
    if "--profile" in sys.argv:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(n):
            one(body)
        profile.disable()
        stats = pstats.Stats(profile)
        stats.sort_stats("tottime").print_stats(35)
        stats.sort_stats("cumulative").print_stats(60)


if __name__ == "__main__":
    main()
