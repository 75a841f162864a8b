"""Moved to :mod:`nnconform.atomic` (the bottom of the layering); this name stays for older importers."""

from nnconform.atomic import json_safe, write_bytes_atomic, write_json_atomic, write_text_atomic

__all__ = ["write_bytes_atomic", "write_json_atomic", "write_text_atomic", "json_safe"]
