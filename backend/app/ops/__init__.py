"""Operator tools: `setup-gigachat`, `check` and `certs install` (also the root scripts of the guide)."""
