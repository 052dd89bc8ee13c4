"""Pages decoded straight from their JPEG give the image pdftoppm renders (same size, same
orientation, the same pixels within resampling), whatever way the scan is placed and
turned; every other kind of page is left to poppler."""

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pikepdf
import pytest

from worker.scan.embedded import decode_page, direct_plans, rendered_size

DPI = 150
PAGE_PT = (595.0, 842.0)


def marked_image(width: int, height: int) -> np.ndarray:
    """Grey paper with an asymmetric mark: any wrong turn or flip moves it."""
    image = np.full((height, width), 235, np.uint8)
    cv2.rectangle(image, (width // 10, height // 12), (width // 3, height // 4), 30, -1)
    cv2.putText(image, "F7", (width // 2, height * 2 // 3), cv2.FONT_HERSHEY_SIMPLEX,
                width / 150, 20, max(2, width // 100))
    cv2.line(image, (0, height - 1), (width - 1, height // 2), 90, max(2, width // 200))
    return image


def jpeg_pdf(path: Path, matrix, rotate: int = 0, colour: bool = False, extra: bytes = b"",
             image_size: tuple[int, int] | None = None, **image_keys) -> np.ndarray:
    """A one-page PDF painting a JPEG with `matrix` (cm); returns the image's pixels."""
    width, height = image_size or (1654, 2339)  # A4 at 200 dpi, portrait
    pixels = marked_image(width, height)
    encoded = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR) if colour else pixels
    _ok, jpeg = cv2.imencode(".jpg", encoded, [cv2.IMWRITE_JPEG_QUALITY, 90])
    pdf = pikepdf.new()
    image = pikepdf.Stream(pdf, jpeg.tobytes())
    image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    image.Width, image.Height, image.BitsPerComponent = width, height, 8
    image.ColorSpace = pikepdf.Name.DeviceRGB if colour else pikepdf.Name.DeviceGray
    image.Filter = pikepdf.Name.DCTDecode
    for key, value in image_keys.items():
        image[f"/{key}"] = value
    placed = " ".join(f"{v:.4f}" for v in matrix)
    content = f"q {placed} cm /Im0 Do Q\n".encode() + extra
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page, MediaBox=[0, 0, *PAGE_PT],
        Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image)),
        Contents=pikepdf.Stream(pdf, content))
    if rotate:
        page.Rotate = rotate
    pdf.pages.append(pikepdf.Page(page))
    pdf.save(path)
    return pixels


def poppler(path: Path) -> np.ndarray:
    out = subprocess.run(["pdftoppm", "-r", str(DPI), "-gray", str(path)], check=True,
                         capture_output=True).stdout
    return cv2.imdecode(np.frombuffer(out, np.uint8), cv2.IMREAD_GRAYSCALE)


def direct(path: Path) -> np.ndarray | None:
    with pikepdf.open(path) as pdf:
        plans = direct_plans(pdf, 1, 1)
        return decode_page(pdf, plans[1], DPI) if 1 in plans else None


W, H = PAGE_PT
PLACEMENTS = {
    "upright": (W, 0, 0, H, 0, 0),
    "upside down": (-W, 0, 0, -H, W, H),
    "mirrored rows": (W, 0, 0, -H, 0, H),
    "mirrored columns": (-W, 0, 0, H, W, 0),
    "turned left": (0, H, -W, 0, W, 0),
    "turned right": (0, -H, W, 0, 0, H),
}


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
def test_direct_decoding_matches_poppler(tmp_path, placement, rotate):
    turned = placement.startswith("turned")
    jpeg_pdf(tmp_path / "page.pdf", PLACEMENTS[placement], rotate,
             image_size=(2339, 1654) if turned else None)
    rendered, decoded = poppler(tmp_path / "page.pdf"), direct(tmp_path / "page.pdf")
    assert decoded is not None
    assert decoded.shape == rendered.shape
    difference = np.abs(decoded.astype(int) - rendered.astype(int))
    assert difference.mean() < 2.0 and np.percentile(difference, 99) < 40


def test_colour_scan_is_decoded_as_poppler_greys_it(tmp_path):
    jpeg_pdf(tmp_path / "page.pdf", PLACEMENTS["upright"], colour=True)
    rendered, decoded = poppler(tmp_path / "page.pdf"), direct(tmp_path / "page.pdf")
    assert decoded.shape == rendered.shape
    assert np.abs(decoded.astype(int) - rendered.astype(int)).mean() < 2.0


def test_rendered_size_rounds_up_like_pdftoppm(tmp_path):
    jpeg_pdf(tmp_path / "page.pdf", PLACEMENTS["upright"])
    assert rendered_size(PAGE_PT, DPI)[::-1] == poppler(tmp_path / "page.pdf").shape


@pytest.mark.parametrize("why, changes", [
    ("text drawn over the scan", {"extra": b"BT /F1 12 Tf 10 10 Td (x) Tj ET\n"}),
    ("a scan not covering its page", {"matrix": (W / 2, 0, 0, H, 0, 0)}),
    ("a skewed placement", {"matrix": (W, 20, 0, H, 0, 0)}),
    ("an inverted decode array", {"Decode": pikepdf.Array([1, 0])}),
])
def test_other_pages_are_left_to_poppler(tmp_path, why, changes):
    matrix = changes.pop("matrix", PLACEMENTS["upright"])
    jpeg_pdf(tmp_path / "page.pdf", matrix, **changes)
    assert direct(tmp_path / "page.pdf") is None, why


def test_a_page_with_annotations_is_left_to_poppler(tmp_path):
    jpeg_pdf(tmp_path / "page.pdf", PLACEMENTS["upright"])
    with pikepdf.open(tmp_path / "page.pdf", allow_overwriting_input=True) as pdf:
        pdf.pages[0].obj.Annots = pikepdf.Array([pikepdf.Dictionary(
            Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Square, Rect=[0, 0, 50, 50])])
        pdf.save(tmp_path / "page.pdf")
    assert direct(tmp_path / "page.pdf") is None


def test_a_damaged_jpeg_is_left_to_poppler(tmp_path):
    jpeg_pdf(tmp_path / "page.pdf", PLACEMENTS["upright"])
    with pikepdf.open(tmp_path / "page.pdf", allow_overwriting_input=True) as pdf:
        image = pdf.pages[0].Resources.XObject.Im0
        image.write(b"\xff\xd8\xff\xe0 not a jpeg at all", filter=pikepdf.Name.DCTDecode)
        pdf.save(tmp_path / "page.pdf")
    with pikepdf.open(tmp_path / "page.pdf") as pdf:
        plans = direct_plans(pdf, 1, 1)
        assert decode_page(pdf, plans[1], DPI) is None


def test_sample_scans_decoded_directly_match_poppler_page_for_page(repo_root):
    """The sample class (colour and grey JPEG scans, landscape and portrait) both ways."""
    from scangrade.settings import Settings
    from worker.scan.pdf import inspect_pdf
    from worker.scan.rasterize import iter_chunks

    settings = Settings()
    info = inspect_pdf(repo_root / "samples" / "scans.pdf", settings)
    with pikepdf.open(info.rendered) as pdf:
        assert len(direct_plans(pdf, 1, info.n_pages)) == info.n_pages
    direct_pages = [p for chunk in iter_chunks(info, settings, 1, 4) for p in chunk]
    poppler_settings = Settings(decode_jpeg_directly=False)
    rendered = [p for chunk in iter_chunks(info, poppler_settings, 1, 4) for p in chunk]
    for ours, theirs in zip(direct_pages, rendered, strict=True):
        assert ours.number == theirs.number and ours.dpi == theirs.dpi
        # poppler rounds a side that is an exact number of pixels either way
        assert np.abs(np.subtract(ours.image.shape, theirs.image.shape)).max() <= 1
        rows, cols = np.minimum(ours.image.shape, theirs.image.shape)
        difference = ours.image[:rows, :cols].astype(int) - theirs.image[:rows, :cols]
        assert np.abs(difference).mean() < 2.0


def test_a_page_whose_jpeg_fails_is_rendered_by_poppler(tmp_path):
    from scangrade.settings import Settings
    from worker.scan.pdf import inspect_pdf
    from worker.scan.rasterize import iter_chunks

    jpeg_pdf(tmp_path / "page.pdf", PLACEMENTS["upright"])
    with pikepdf.open(tmp_path / "page.pdf", allow_overwriting_input=True) as pdf:
        image = pdf.pages[0].Resources.XObject.Im0
        image.Width = 1000  # the JPEG says otherwise: not decoded directly
        pdf.save(tmp_path / "page.pdf")
    settings = Settings()
    (page,) = next(iter_chunks(inspect_pdf(tmp_path / "page.pdf", settings), settings))
    assert page.error is None and page.image.shape == poppler(tmp_path / "page.pdf").shape
