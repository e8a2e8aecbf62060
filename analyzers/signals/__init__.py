"""Registered signals: results several analyzers read, computed once per video and
config by the runner and persisted (see analyzers.core.runner)."""
