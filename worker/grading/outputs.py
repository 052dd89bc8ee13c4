"""The files a grading run writes into its report folder: the one list of their names.

The API serves exactly `REPORT_FILES` for download (and tells the upload page which exist);
`inputs/` (see worker.grading.inputs) and `summary.json` are for scangrade itself.
"""

STUDENTS_CSV = "students.csv"
RESPONSES_CSV = "responses.csv"
QUESTIONS_CSV = "questions.csv"
PAGES_CSV = "pages.csv"
REVIEW_PDF = "review.pdf"
SUMMARY_FILE = "summary.json"

CSV_REPORTS = (STUDENTS_CSV, RESPONSES_CSV, QUESTIONS_CSV, PAGES_CSV)
REPORT_FILES = (*CSV_REPORTS, REVIEW_PDF)  # what a teacher downloads, in the order shown
