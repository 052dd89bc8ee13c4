"""The files a grading run writes into its report folder: the one list of their names.

The API serves exactly `REPORT_FILES` for download (and tells the upload page which exist);
`inputs/` (see worker.grading.inputs) and `summary.json` are for scangrade itself.
"""

STUDENTS_CSV = "students.csv"
RESPONSES_CSV = "responses.csv"
QUESTIONS_CSV = "questions.csv"
PAGES_CSV = "pages.csv"
REVIEW_CSV = "review.csv"  # what to check, to fill in and pass back as corrections
MOODLE_CSV = "grades-moodle.csv"
CANVAS_CSV = "grades-canvas.csv"
REVIEW_PDF = "review.pdf"
GRADED_ZIP = "graded.zip"  # graded/<student>.pdf, one per student, to hand back
GRADED_DIR = "graded"
JOURNAL_CSV = "corrections.csv"  # every correction, kept (worker.grading.corrections)
SUMMARY_FILE = "summary.json"

CSV_REPORTS = (STUDENTS_CSV, RESPONSES_CSV, QUESTIONS_CSV, PAGES_CSV, REVIEW_CSV, MOODLE_CSV,
               CANVAS_CSV)
# what a teacher downloads, in the order shown
REPORT_FILES = (*CSV_REPORTS, REVIEW_PDF, GRADED_ZIP, JOURNAL_CSV)
