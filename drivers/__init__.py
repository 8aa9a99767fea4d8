"""Async drivers for real instruments, one sub-package per vendor, each behind a role of operando.roles."""
