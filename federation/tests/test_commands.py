"""`manage.py test_identity_provider`, run as the demo runs it: what it prints works."""

import re
import signal
import subprocess
import sys
from pathlib import Path

import jwt
import requests
from django.conf import settings as django_settings

from federation.jwks import issuer_keys_fetch
from tests.processes import project_env


def test_the_demo_identity_provider_prints_settings_and_a_mint_line_that_work(settings):
    # given
    server = subprocess.Popen(
        [sys.executable, "manage.py", "test_identity_provider", "--port", "0"],
        env=project_env(),
        cwd=django_settings.BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        while not lines or not lines[-1].startswith("Ctrl+C"):
            line = server.stdout.readline()
            assert line, server.stderr.read()
            lines.append(line.strip())
        printed = "\n".join(lines)

        # when: the identity server is configured as printed
        env = dict(re.findall(r"export (\w+)=(\S+)", printed))
        settings.FEDERATION_OUTBOUND_ALLOWLIST = env["FEDERATION_OUTBOUND_ALLOWLIST"].split(",")
        settings.FEDERATION_CA_BUNDLE = env["FEDERATION_CA_BUNDLE"]
        issuer = re.search(r"github +issuer (\S+)", printed).group(1)
        cafile, mint_url = re.search(r"curl -s --cacert (\S+) '([^']+)'", printed).groups()

        # then: its keys are fetched through the guarded fetcher, and minted tokens verify
        keys = issuer_keys_fetch(issuer)
        token = requests.get(mint_url, verify=cafile, timeout=5).text
        claims = jwt.decode(
            token,
            jwt.PyJWK(keys[0]).key,
            algorithms=["RS256"],
            audience="https://id.example.com",
            issuer=issuer,
        )
        assert claims["sub"] == "repo:octo-org/octo-repo:ref:refs/heads/main"
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=10)
        server.stdout.close()
        server.stderr.close()
    assert server.returncode == 0
    assert not Path(cafile).exists()  # the throwaway CA goes with it
