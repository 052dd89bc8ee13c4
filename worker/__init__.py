"""Scan pipeline and grading: rasterize, align, crop, read, score, report; Celery tasks."""
