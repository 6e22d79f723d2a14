"""moto's standalone server, which tests/fakes/fixtures.py starts: no fake of ours, moto is
AWS's protocol (SigV4 signatures checked) on a real socket. It is ThreadedMotoServer's own
server (werkzeug's, moto's WSGI application and request handler), given a TLS context so the
client is tested over HTTPS with a per-store CA like the other vaults."""

import ssl
import threading
from dataclasses import dataclass

import boto3
import trustme
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

REGION = "us-east-1"


def start_moto_server():
    """(server, port, CA) of moto's server on a free loopback port, over HTTPS."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    server = make_server(
        "127.0.0.1",
        0,
        DomainDispatcherApplication(create_backend_app),
        threaded=True,
        request_handler=MotoRequestHandler,
        ssl_context=context,
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1], ca


@dataclass(frozen=True)
class MotoServer:
    url: str
    port: int
    ca_pem: str
    ca_file: str
    access_key_id: str
    secret_access_key: str

    @property
    def allowlist(self) -> list[str]:
        return [f"localhost:{self.port}", f"127.0.0.1:{self.port}"]

    def client(self):
        """A Secrets Manager client of the test's own, for setting up and checking."""
        return boto3.client(
            "secretsmanager",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            verify=self.ca_file,
        )

    def clear(self) -> None:
        client = self.client()
        for page in client.get_paginator("list_secrets").paginate():
            for secret in page["SecretList"]:
                client.delete_secret(SecretId=secret["ARN"], ForceDeleteWithoutRecovery=True)
