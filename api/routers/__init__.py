"""HTTP routes of the grading service, one module per resource."""
