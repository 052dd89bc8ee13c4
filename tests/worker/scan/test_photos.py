"""Phone photos through the scan path: every photographic condition the camera simulator
makes is read, or told apart with its own reason; every image kind a phone or scanner writes
is a page; image files that cannot be used are refused in words."""

from __future__ import annotations

import io
import zipfile

import cv2
import numpy as np
import pytest
from PIL import Image

from model.training.data import mnist_loader
from scangrade.config.scan import ScanSettings
from scangrade.settings import get_settings
from worker.scan.errors import ScanFileError
from worker.scan.images import ImageFileError, decode_page, image_kind, inspect_image
from worker.scan.quality import even_paper
from worker.scan.results import PageStatus
from worker.scan.scans import ScanReading, inspect_scans
from worker.scan.sources import expand_inputs, inspect_scan
from worker.synth.camera import CONDITIONS, PhotoRanges
from worker.synth.class_set import SynthOptions, synthesize_captures

SETTINGS = ScanSettings(chunk_pages=4)
ORDER = list(CONDITIONS)  # one sheet photographed under each condition
FRAME = (3000, 2250)  # 7 MP: read as is (photo_max_side_px); the eval uses 12 MP


@pytest.fixture(scope="module")
def photos(layout, tmp_path_factory):
    """A class of len(ORDER) students, each sheet photographed under one condition, as JPEG
    files; and the truth."""
    result = synthesize_captures(
        layout, mnist_loader(get_settings()),
        SynthOptions(students=len(ORDER), seed=5, blank_pages=0, text_pages=0,
                     other_exam_pages=0),
        PhotoRanges(frame_px=FRAME), conditions=ORDER)
    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for page, photo in zip(result.photo_truth["pages"], result.photos, strict=True):
        paths.append(folder / f"{page['source_page']:02d}-{page['photo']['condition']}.jpg")
        paths[-1].write_bytes(photo)
    return paths, result.photo_truth


@pytest.fixture(scope="module")
def read_photos(photos, layout, reader):
    paths, truth = photos
    reading = ScanReading(inspect_scans(paths, SETTINGS), {layout.exam_id: layout}, reader,
                          SETTINGS)
    return list(reading), truth


def test_each_condition_is_read_or_given_its_reason(read_photos) -> None:
    results, truth = read_photos
    right = written = 0
    for result, page in zip(results, truth["pages"], strict=True):
        condition = page["photo"]["condition"]
        assert str(result.status) == CONDITIONS[condition], (condition, result.message)
        if result.status != PageStatus.OK:
            assert "take the photo" in result.message, result.message
            continue
        assert (result.exam_id, result.copy) == (page["exam_id"], page["copy"]), condition
        # its scale measured from the markers, not the image's size
        assert SETTINGS.min_px_per_mm * 25.4 <= result.dpi < 250
        reads = {(box.field, box.index): box for box in result.boxes}
        for box in page["boxes"]:
            if box["digit"] is not None:
                written += 1
                right += reads[box["field"], box["index"]].digit == box["digit"]
    assert written > 50 and right / written >= 0.95


@pytest.mark.parametrize("kind", ["png", "webp", "heif", "tiff"])
def test_every_image_kind_is_a_page(kind, photos, layout, reader, tmp_path) -> None:
    paths, truth = photos
    image = Image.open(paths[0])
    target = tmp_path / f"sheet.{kind}"
    if kind == "heif":
        from pillow_heif import register_heif_opener

        register_heif_opener()
    if kind == "tiff":  # a scanner's multi-page TIFF: every page is read
        image.save(target, format="TIFF", save_all=True,
                   append_images=[Image.open(paths[1])], compression="tiff_deflate")
    else:
        image.save(target, format={"heif": "HEIF"}.get(kind, kind.upper()), quality=90)
    assert image_kind(target.read_bytes()[:16]) == kind
    info = inspect_scan(target, SETTINGS)
    assert info.n_pages == (2 if kind == "tiff" else 1)
    results = list(ScanReading(inspect_scans([target], SETTINGS), {layout.exam_id: layout},
                               reader, SETTINGS))
    assert [r.status for r in results] == [PageStatus.OK] * info.n_pages
    assert [r.copy for r in results] == [p["copy"] for p in truth["pages"][:info.n_pages]]


def test_exif_orientation_is_applied(tmp_path) -> None:
    stored = np.zeros((60, 100), np.uint8)  # stored landscape; EXIF says turn it upright
    stored[:, :10] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to display
    path = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(path, exif=exif)
    upright = decode_page(inspect_image(path, SETTINGS), 1, 3000)
    assert upright.shape == (100, 60)
    assert upright[:10].mean() > 200  # the white band is now on top


def test_large_photos_are_reduced_while_decoded(tmp_path) -> None:
    path = tmp_path / "48mp.jpg"
    Image.new("L", (8000, 6000), 230).save(path, quality=80)
    assert max(decode_page(inspect_image(path, SETTINGS), 1, 3000).shape) == 3000


def test_unusable_image_files_are_refused_in_words(tmp_path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo at all")
    with pytest.raises(ScanFileError, match="neither a PDF nor a photo"):
        inspect_scan(text, SETTINGS)
    big = tmp_path / "big.png"
    Image.new("L", (300, 300)).save(big)
    with pytest.raises(ImageFileError, match="larger than 1,000 pixels"):
        inspect_image(big, ScanSettings(max_image_pixels=1000))


def test_a_cut_off_photo_is_that_page_s_error(photos, layout, reader, tmp_path) -> None:
    paths, _ = photos
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(paths[0].read_bytes()[:20_000])  # the upload stopped midway
    reading = ScanReading(inspect_scans([cut, paths[1]], SETTINGS), {layout.exam_id: layout},
                          reader, SETTINGS)
    first, second = list(reading)
    assert first.status == PageStatus.ERROR and "take the photo again" in first.message
    assert second.status == PageStatus.OK


def test_shadowed_paper_is_evened_and_even_paper_is_left_alone() -> None:
    page = np.full((400, 300), 235, np.uint8)
    cv2.putText(page, "7", (120, 220), cv2.FONT_HERSHEY_SIMPLEX, 3, 30, 6)
    boxes = [np.array([[x, y], [x + 40, y], [x + 40, y + 40], [x, y + 40]], np.float64)
             for x in range(20, 260, 60) for y in range(20, 360, 60)]
    same, changed = even_paper(page, 1.5, boxes, SETTINGS)
    assert not changed and same is page
    shadowed = page.copy()
    shadowed[:, 150:] = (shadowed[:, 150:] * 0.5).astype(np.uint8)  # a hand's shadow
    evened, changed = even_paper(shadowed, 1.5, boxes, SETTINGS)
    assert changed
    paper = evened[evened > 150]
    assert paper.std() < 12  # lit and shadowed paper alike
    assert evened[200, 10] > 240 and evened[200, 290] > 240
    assert evened.min() < 90  # the ink stays dark


def test_folders_and_zip_archives_give_their_scans_in_order(photos, tmp_path) -> None:
    paths, _ = photos
    folder = tmp_path / "class"
    folder.mkdir()
    for path in paths[:2]:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / ".DS_Store").write_bytes(b"\0\0")
    (folder / "readme.txt").write_text("hello")
    archive = tmp_path / "more.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("__MACOSX/._x.jpg", b"junk")
        zf.writestr("b/second.jpg", paths[3].read_bytes())
        zf.writestr("a/first.jpg", paths[2].read_bytes())
    files, problems = expand_inputs([folder, archive], tmp_path / "unpacked")
    assert problems == []
    assert [f.read_bytes() for f in files] == [p.read_bytes() for p in paths[:4]]
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.jpg", b"\xff\xd8\xff" + b"\0" * 50_000_000)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    files, problems = expand_inputs([bomb, broken, tmp_path / "empty"], tmp_path / "u2")
    assert "unpacks to far more than it holds" in problems[0]
    assert "damaged zip archive" in problems[1]


def test_grade_takes_a_folder_of_photos(photos, layout, tmp_path) -> None:
    import csv

    import yaml
    from typer.testing import CliRunner

    from api.cli import build_app

    paths, _ = photos
    folder = tmp_path / "phone"
    folder.mkdir()
    for path in paths:
        (folder / path.name).write_bytes(path.read_bytes())
    layout_file = tmp_path / "layout.yaml"
    layout_file.write_text(yaml.safe_dump(layout.model_dump(mode="json", exclude_none=True)))
    key = tmp_path / "key.csv"
    key.write_text("question,answer\n" + "".join(f"q{n},{n}\n" for n in range(1, 13)))
    out = tmp_path / "reports"
    result = CliRunner().invoke(build_app(), [
        "grade", str(folder), "--layout", str(layout_file), "--key", str(key),
        "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    with open(out / "pages.csv", encoding="utf-8-sig") as f:
        pages = list(csv.DictReader(f))
    assert len(pages) == len(paths)
    statuses = [row["status"] for row in pages]
    assert statuses.count("ok") == list(CONDITIONS.values()).count("ok")
    assert {"blurry", "low-resolution"} <= set(statuses)
    assert io.BytesIO((out / "review.pdf").read_bytes()).read(5) == b"%PDF-"
