"""Settings of the scan pipeline (worker/: rasterize, align, crop, read).

Every threshold the pipeline uses is named here, with why it has its value; measured figures
come from `scangrade eval pipeline` / `scangrade bench pipeline`.
"""

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings


class ScanSettings(BaseSettings):
    # --- rasterize -------------------------------------------------------------------------
    dpi: int = Field(
        default=150,
        description="Rasterization resolution for scanned pages. 150 DPI is ~6 px/mm, the "
        "resolution crops are read at (crop_px_per_mm): on 300 synthetic pages it aligned and "
        "identified every sheet as 200 DPI did, read digits within 0.2 points of 200 DPI, and "
        "ran the whole pipeline 2.2x faster (10.1 vs 4.6 pages/s on 2 shared cores).",
    )
    chunk_pages: int = Field(
        default=16,
        description="Pages rasterized (one pdftoppm call) and read (one reader batch) together; "
        "memory holds at most two chunks (the one being read and the one rasterized ahead: "
        "~60 MB at 150 DPI). Each pdftoppm call costs ~55 ms to start, +16% over bare "
        "rasterization for 8-page chunks, +5% for 16; 16 pages of 29-46 boxes still fit the "
        "reader's 1024 batch.",
    )
    max_pages: int = Field(default=2000, description="Largest PDF accepted, in pages.")
    max_page_pixels: int = Field(
        default=60_000_000, description="Largest rasterized page accepted, in pixels."
    )
    min_page_dpi: int = Field(
        default=60,
        description="A page too large for max_page_pixels at `dpi` is rasterized at a lower DPI, "
        "but not below this one (a sheet's markers need ~60 DPI); below it the page gets an "
        "error status instead.",
    )
    raster_temp_dir: Path | None = Field(
        default=None,
        description="Where pdftoppm writes a chunk's page images before they are read back; "
        "None: the system's temporary folder. A tmpfs (e.g. /dev/shm) saves disk writes where "
        "it is larger than two chunks of pages.",
    )
    align_threads: int = Field(
        default=0, ge=0,
        description="Pages of a chunk aligned and cut side by side in this many threads, while "
        "the chunk before is read, after their JPEGs are decoded in as many; 0: one per CPU. "
        "Alignment and decoding are mostly OpenCV and libjpeg, which run "
        "outside the GIL (`scangrade bench grade`).",
    )

    @property
    def page_threads(self) -> int:
        """align_threads, or one per CPU the process may use when it is 0."""
        return self.align_threads or len(os.sched_getaffinity(0))
    decode_jpeg_directly: bool = Field(
        default=True,
        description="A page that is one embedded JPEG covering it (what scanners write) is "
        "decoded from the JPEG at the needed scale (libjpeg-turbo's DCT scaling) instead of "
        "rendered by poppler: the same page image within resampling, for a fraction of the "
        "time (`scangrade bench grade`). Every other page is rendered by poppler.",
    )
    rasterize_timeout_s: int = Field(
        default=300, description="Longest pdftoppm may take for one chunk before its pages fail."
    )

    # --- align: ArUco detection (cv2.aruco.DetectorParameters) -----------------------------
    marker_detect_dpi: int = Field(
        default=75,
        description="Markers are searched in a copy of the page scaled to this DPI (a 12 mm marker "
        "is still 35 px, 6 px per module), then their corners are refined at full resolution: "
        "detection cost falls with the square of the DPI; on blurred, noisy JPEG scans 75 DPI "
        "found as many markers as 100 and 150 at half and a quarter of the time.",
    )
    aruco_windows: tuple[int, int, int] = Field(
        default=(13, 23, 10),
        description="Adaptive-threshold windows (min, max, step; px at marker_detect_dpi) of the "
        "first search: two windows of about a third and two thirds of a marker side threshold "
        "markers as solid squares; on blurred noisy JPEG scans they found every marker the "
        "default 4 windows found, 3x faster.",
    )
    aruco_retry_windows: tuple[int, int, int] = Field(
        default=(5, 35, 10),
        description="Windows of the second, thorough search, run only when the first finds "
        "fewer than 4 markers (damaged sheets, foreign pages).",
    )
    marker_retry_dpi: int = Field(
        default=150, description="Resolution of the second, thorough marker search."
    )
    aruco_min_perimeter_rate: float = Field(
        default=0.04,
        description="Smallest marker perimeter as a share of the larger image side: ignores "
        "small squares such as box borders, QR modules and text (markers are ~0.15).",
    )
    aruco_max_erroneous_border_bits: float = Field(
        default=0.5,
        description="Share of the marker's black border bits allowed to be wrong: noisy and JPEG "
        "scans flip border bits; the id bits are still checked by the dictionary.",
    )
    aruco_error_correction_rate: float = Field(
        default=0.6, description="Share of the dictionary's bit-error correction used."
    )
    corner_refine_window_mm: float = Field(
        default=0.8, description="Half-size of the sub-pixel corner refinement window, in mm."
    )

    # --- align: fit and classification ---------------------------------------------------
    min_markers: int = Field(
        default=3,
        description="Markers needed to fit the page: 3 give an affine fit, 4 a homography.",
    )
    refit_residual_mm: float = Field(
        default=0.3,
        description="A 4-marker fit worse than this is retried without each marker in turn (one "
        "misdetected marker); clean fits are ~0.05 mm.",
    )
    max_residual_mm: float = Field(
        default=1.0,
        description="Pages whose RMS marker fit error exceeds this are `low-quality`: a box is "
        "~7 mm and cropped with a 1.5 mm margin, so 1 mm still keeps the digit inside the crop.",
    )
    qr_search_margin_mm: float = Field(
        default=6.0,
        description="Margin around the QR rectangle predicted by the fit, searched first.",
    )
    ink_contrast: int = Field(
        default=60,
        description="A pixel is ink when it is this many grey levels darker than the paper "
        "around it (robust to uneven lighting and grey paper).",
    )
    blank_max_ink_share: float = Field(
        default=0.0005,
        description="Pages with less ink than this share of their area are `blank-page` "
        "(scanner noise and dust stay far below it, a line of text is above it).",
    )
    blank_test_dpi: float = Field(
        default=50.0, description="Resolution of the blank-page test (text still shows at 50)."
    )
    blank_background_mm: float = Field(
        default=16.0,
        description="Width of the median filter that estimates the paper: wider than any "
        "stroke or letter, narrower than lighting changes.",
    )
    blank_ignore_edge_mm: float = Field(
        default=8.0,
        description="Border of the page ignored by the blank test: scanners leave shadows there.",
    )

    # --- crop ------------------------------------------------------------------------------
    crop_px_per_mm: float = Field(
        default=6.0,
        description="Resolution of the box crops handed to the reader (a 7 mm box -> 42 px, "
        "above the reader's 28 px input).",
    )
    crop_margin_mm: float = Field(
        default=1.5,
        description="Margin cut around each box border so that alignment error never cuts the "
        "digit; the reader removes the border remnants itself.",
    )

    # --- photos and image files ----------------------------------------------------------
    photo_max_side_px: int = Field(
        default=3000,
        description="Images are reduced to this longest side while decoded (a 48 MP JPEG by "
        "libjpeg's DCT scaling, at a fraction of a full decode): a sheet filling 60-100% of "
        "the frame is then 4.5-7.5 px/mm, about scan resolution (crop_px_per_mm), and a 48 MP "
        "photo costs about what a 12 MP one does.",
    )
    photo_detect_side_px: int = Field(
        default=1600,
        description="A photo's markers are first searched in a copy this long (a sheet filling "
        "60% of the frame still shows 29 px markers), then at full size when some are missing; "
        "the photo's nominal DPI is set so that marker_detect_dpi gives this size.",
    )
    photo_min_marker_perimeter_rate: float = Field(
        default=0.012,
        description="aruco_min_perimeter_rate for photos: a sheet may fill a small part of the "
        "frame (its markers then 1-2% of the image side each), and a sheet too small to read "
        "must still be found to say so (`low-resolution`).",
    )
    max_image_pixels: int = Field(
        default=200_000_000,
        description="Largest image accepted, in pixels (a 108 MP phone camera's photos pass; "
        "a crafted header claiming more is refused before decoding).",
    )

    # --- page quality: resolution, blur, uneven light ------------------------------------
    min_px_per_mm: float = Field(
        default=3.0,
        description="Sheets seen at fewer pixels per mm are `low-resolution` (a 7 mm box "
        "would be under 21 px, below the reader's 28 px input): a photo taken from too far.",
    )
    max_edge_blur_mm: float = Field(
        default=0.7,
        description="Sheets whose marker edges are spread over more than this are `blurry` "
        "(motion or focus): the 10-90% width of a marker's black-to-white edges along the "
        "sheet's more blurred axis; sharp scans and photos measure well under half of it "
        "(`scangrade eval pipeline --photos`).",
    )
    edge_measure_px_per_mm: float = Field(
        default=8.0, description="Resolution the marker edges are resampled at to measure blur."
    )
    paper_model_px_per_mm: float = Field(
        default=1.0,
        description="Resolution of the paper-brightness model used to even out light: shadows "
        "and light gradients vary over centimetres, ink over tenths of a millimetre.",
    )
    paper_ink_removal_mm: float = Field(
        default=6.0,
        description="Ink narrower than this (digits, box lines, text) is lifted off the page "
        "to see the paper under it; wider dark areas (markers) stay.",
    )
    paper_uneven_levels: float = Field(
        default=20.0,
        description="The paper is evened out (each pixel divided by the paper around it) when "
        "its brightness over the boxes varies by more than this many grey levels (5-95%): a "
        "shadow, a gradient, a phone's vignetting; an evenly lit page is left as it is.",
    )
