"""OAuth external applications and their federated identity credentials (SPEC §5)."""
