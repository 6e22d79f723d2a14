"""Machines, unattended robots and their sessions (SPEC §6)."""
