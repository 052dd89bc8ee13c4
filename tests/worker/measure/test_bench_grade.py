"""bench grade end to end on a tiny class: real `scangrade grade` processes beside real
pdftoppm, with figures that add up."""

from scangrade.settings import get_settings
from worker.measure.bench_grade import bench_grade


def test_bench_grade_times_the_whole_command_beside_pdftoppm(tmp_path):
    report = bench_grade(get_settings(), students=3, repeats=1, memory_pages=(2,),
                         work_dir=tmp_path, log=lambda line: None)
    assert report["pages"] >= 3
    assert report["grade"]["median_seconds"] > 0 and report["pdftoppm"]["median_seconds"] > 0
    assert report["grade_vs_pdftoppm"] == round(
        report["grade"]["median_seconds"] / report["pdftoppm"]["median_seconds"], 2)
    # the grading process holds the reader: far more memory than poppler's few MB
    assert report["grade"]["runs"][0]["peak_rss_mb"] > 100
    assert report["peak_rss_mb_by_pages"]["2"] > 100
    assert report["one_page_seconds"]["warm"] > 0
