"""Settings of the scan pipeline (worker/: rasterize, align, crop, read)."""

from pydantic import Field
from pydantic_settings import BaseSettings


class ScanSettings(BaseSettings):
    dpi: int = Field(default=200, description="Rasterization resolution for scanned pages.")
    chunk_pages: int = Field(default=8, description="Pages rasterized and read together.")
    max_pages: int = Field(default=2000, description="Largest PDF accepted, in pages.")
    max_page_pixels: int = Field(
        default=60_000_000, description="Largest rasterized page accepted, in pixels."
    )
