"""Results to files: JSON/CSV for numbers, PNG plots, Markdown summaries (stdlib + matplotlib)."""

from femnn.report.files import atomic_write_json, atomic_write_text, read_widths, versions

__all__ = ["atomic_write_json", "atomic_write_text", "read_widths", "versions"]
