"""From scanned pages to grades: `scan` (PDF -> pages -> aligned pages -> crops -> digits),
`sheets` (layouts, printable sheets, QR payloads), `grading` (answers -> scores -> reports),
`service` (Celery tasks, job state, storage), `synth` (synthetic scans from MNIST test
digits) and `measure` (the eval and bench commands)."""
