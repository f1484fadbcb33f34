"""Part -> files for the printer (binary STL and 3MF in mm, chosen by suffix), summary, XDMF, preview.

Import explicitly (``import femnn.export``): it needs lib3mf and matplotlib. Every file is checked
first (:mod:`femnn.export.checks`) and written through a temporary name, so a failed check writes
nothing.
"""

from femnn.export.checks import (
    J850_TRAY_MM,
    PRINTER_MIN_FEATURE_M,
    ExportCheckError,
    PrintReport,
    check_part,
    check_printable,
    check_surface,
    surface_mm,
)
from femnn.export.files import summary, write_summary, write_xdmf
from femnn.export.preview import write_preview
from femnn.export.writers import MATERIAL, WRITERS, export, read_3mf, write_3mf, write_stl, writer_for

__all__ = [
    "WRITERS", "export", "write_stl", "write_3mf", "read_3mf", "writer_for", "MATERIAL", "check_part",
    "check_printable", "check_surface", "surface_mm", "ExportCheckError", "PrintReport", "PRINTER_MIN_FEATURE_M",
    "J850_TRAY_MM", "summary", "write_summary", "write_xdmf", "write_preview",
]
