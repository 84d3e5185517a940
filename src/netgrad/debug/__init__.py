"""Diagnostics: where a non-finite value came from, and whether a gradient is right."""

__all__: list[str] = []
