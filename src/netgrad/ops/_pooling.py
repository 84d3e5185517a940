"""Pooling operations (owned by the pooling engineer)."""

__all__: list[str] = []
