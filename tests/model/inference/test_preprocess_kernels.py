"""The compiled preprocessing against OpenCV: each kernel against the OpenCV call it
replaces, and the whole of `preprocess_batch` against the OpenCV implementation it replaced
(`tests/helpers/preprocess_reference.py`) on scan-path crops of MNIST test digits and dirty
blanks."""

import dataclasses

import cv2
import numpy as np
import pytest

import tests.helpers.preprocess_reference as reference
from model.inference import preprocess_kernels as kernels
from model.inference.preprocess import DEFAULT_CONFIG, preprocess, preprocess_batch
from model.training.scanpath import DEFAULT_SCAN_PATH, render_box_crop
from tests.helpers.paths import MNIST_TEST_SAMPLE


def random_sizes(rng: np.random.Generator, count: int, low: int, high: int):
    for _ in range(count):
        yield tuple(int(v) for v in rng.integers(low, high, 2))


def test_work_size_resize_is_opencvs_to_the_bit():
    rng = np.random.default_rng(0)
    # Shrinking (INTER_AREA, float weights), whole-number ratios (block means), growing
    # (INTER_LINEAR, fixed point), and the identity.
    shapes = [*random_sizes(rng, 150, 9, 260), (128, 96), (128, 64), (192, 128), (256, 64),
              (64, 48), (64, 64), (8, 8), (9, 300)]
    for h, w in shapes:
        src = rng.integers(0, 256, (h, w)).astype(np.uint8)
        scale = 64 / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        want = cv2.resize(src, size, interpolation=cv2.INTER_AREA if scale < 1
                          else cv2.INTER_LINEAR)
        got = kernels._to_work_size(src, 64)
        assert got.shape == want.shape and np.array_equal(got, want), (h, w)


def test_float_resizes_match_opencv():
    rng = np.random.default_rng(1)
    for h, w in random_sizes(rng, 100, 1, 60):
        src = rng.random((h, w)).astype(np.float32)
        oh, ow = (int(v) for v in rng.integers(1, 21, 2))
        oh, ow = min(oh, h), min(ow, w)
        want = cv2.resize(src, (ow, oh), interpolation=cv2.INTER_AREA).reshape(oh, ow)
        np.testing.assert_allclose(kernels._resize_area(src, oh, ow), want, atol=1e-6)
    for h, w in random_sizes(rng, 100, 1, 20):
        src = rng.random((h, w)).astype(np.float32)
        oh, ow = max(h, int(rng.integers(1, 21))), max(w, int(rng.integers(1, 21)))
        want = cv2.resize(src, (ow, oh), interpolation=cv2.INTER_LINEAR).reshape(oh, ow)
        np.testing.assert_allclose(kernels._resize_linear(src, oh, ow), want, atol=1e-6)


def test_shift_matches_warp_affine():
    rng = np.random.default_rng(2)
    for h, w in random_sizes(rng, 100, 1, 21):
        src = rng.random((h, w)).astype(np.float32)
        matrix = np.float32([[1, 0, rng.uniform(-5, 20)], [0, 1, rng.uniform(-5, 20)]])
        want = cv2.warpAffine(src, matrix, (28, 28), flags=cv2.INTER_LINEAR, borderValue=0.0)
        got = kernels._shift_bilinear(src, float(matrix[0, 2]), float(matrix[1, 2]))
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_otsu_and_percentiles_match_opencv():
    rng = np.random.default_rng(3)
    for _ in range(200):
        values = rng.integers(0, int(rng.integers(2, 256)), int(rng.integers(20, 4000)))
        image = values.astype(np.uint8).reshape(1, -1)
        hist = np.bincount(image.ravel(), minlength=256)
        otsu, _ = cv2.threshold(image, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        assert kernels._otsu_threshold(hist, image.size) == int(otsu)
        for q in (70.0, 90.0):
            assert kernels._percentile_of_histogram(hist, q) == reference.percentile_u8(image, q)


@pytest.mark.parametrize("length", [3, 6, 7, 34, 42])
def test_row_opening_and_dilation_match_opencv(length):
    rng = np.random.default_rng(length)
    for trial in range(60):
        cols = (1, 2, 3, 5)[trial] if trial < 4 else 64  # rows shorter than the kernel too
        mask = (rng.random((int(rng.integers(1, 12)), cols)) < 0.85).astype(np.uint8)
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1))
        want = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
        assert np.array_equal(kernels._row_opening(mask, length), want)
        band = int(rng.integers(0, 4))  # only the edge rows computed, the middle left empty
        banded = want.copy()
        banded[band: len(mask) - band] = 0
        assert np.array_equal(kernels._row_opening(mask, length, band), banded)
        assert np.array_equal(kernels._dilate3(mask), cv2.dilate(mask, np.ones((3, 3), np.uint8)))


def test_run_labelling_finds_opencvs_components():
    rng = np.random.default_rng(4)
    for _ in range(100):
        mask = (rng.random((40, 50)) < rng.uniform(0.1, 0.6)).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        _, starts, stops, parent = kernels._label_runs(mask)
        roots = sorted(set(parent.tolist()))
        assert len(roots) == count - 1
        areas = sorted(int((stops[parent == root] - starts[parent == root]).sum())
                       for root in roots)
        assert areas == sorted(stats[1:, cv2.CC_STAT_AREA].tolist())


FIXTURE = MNIST_TEST_SAMPLE
FAINT_PASS = dataclasses.replace(DEFAULT_CONFIG, faint_pass=True)


@pytest.fixture(scope="module")
def scan_path_crops():
    with np.load(FIXTURE) as data:
        images = data["images"]
    rng = np.random.default_rng(5)
    dirty = dataclasses.replace(DEFAULT_SCAN_PATH, speck_rate=4.0, stray_mark_probability=0.9,
                                border_offset_px=8)
    crops = [render_box_crop(image, rng) for image in images]
    crops += [render_box_crop(None, rng, dirty) for _ in range(150)]
    # Odd sizes: tiny, long and thin, large, whole-number ratios to the working size.
    for h, w in [(8, 8), (12, 90), (300, 240), (128, 96), (32, 32), (64, 64)]:
        crops.append(cv2.resize(crops[len(crops) % 200], (w, h)))
    return crops


@pytest.mark.parametrize("config", [DEFAULT_CONFIG, FAINT_PASS],
                         ids=["default", "faint pass"])
def test_whole_preprocessing_matches_the_opencv_implementation(scan_path_crops, config):
    got, got_blank = preprocess_batch(scan_path_crops, config)
    want, want_blank = reference.preprocess_batch(scan_path_crops, config)
    assert np.array_equal(got_blank, want_blank)
    assert 100 < (~want_blank).sum() < len(scan_path_crops)  # both kinds were exercised
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_huge_crop_matches_the_opencv_implementation():
    crop = np.full((86, 70), 235, np.uint8)
    cv2.rectangle(crop, (12, 12), (58, 74), 160, 1)
    cv2.line(crop, (25, 22), (45, 22), 20, 4)
    cv2.line(crop, (45, 22), (30, 64), 20, 4)
    huge = cv2.resize(crop, (6_000, 7_000), interpolation=cv2.INTER_NEAREST)
    got, want = preprocess(huge), reference.preprocess(huge)
    assert got is not None and want is not None
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_threads_and_single_crops_give_the_same_result(scan_path_crops):
    one, one_blank = preprocess_batch(scan_path_crops, threads=1)
    many, many_blank = preprocess_batch(scan_path_crops, threads=3)
    assert np.array_equal(one, many) and np.array_equal(one_blank, many_blank)
    for i in range(0, len(scan_path_crops), 37):
        single = preprocess(scan_path_crops[i])
        assert (single is None) == one_blank[i]
        if single is not None:
            assert np.array_equal(single, one[i])
