"""Wire-protocol fakes of the vaults robot credential stores live in (SPEC §12): HTTPS on
loopback with a throwaway CA, each speaking its vault's documented protocol and refusing
anything else. AWS Secrets Manager needs none: tests run moto's own server."""
