"""Paper units: layouts are in millimetres, scans and page images in pixels at some DPI."""

MM_PER_INCH = 25.4
POINTS_PER_INCH = 72.0  # PDF's unit


def px_per_mm(dpi: float) -> float:
    """Pixels per millimetre of an image at `dpi` dots per inch."""
    return dpi / MM_PER_INCH
