"""What tests need to know of moto's standalone server (started in tests/fakes/fixtures.py):
no fake of ours, moto is AWS's protocol on a real socket."""

from dataclasses import dataclass

import boto3

REGION = "us-east-1"


@dataclass(frozen=True)
class MotoServer:
    url: str
    port: int
    access_key_id: str
    secret_access_key: str
    denied_access_key_id: str  # a key moto knows, of a user without any policy
    denied_secret_access_key: str

    @property
    def allowlist(self) -> list[str]:
        return [f"127.0.0.1:{self.port}"]

    def client(self):
        """A Secrets Manager client of the test's own, for setting up and checking."""
        return boto3.client(
            "secretsmanager",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )

    def clear(self) -> None:
        client = self.client()
        for page in client.get_paginator("list_secrets").paginate():
            for secret in page["SecretList"]:
                client.delete_secret(SecretId=secret["ARN"], ForceDeleteWithoutRecovery=True)
