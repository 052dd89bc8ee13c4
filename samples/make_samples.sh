#!/usr/bin/env bash
# Remakes the generated sample files from layout.yaml, key.csv and roster.csv (deterministic).
# Usage: samples/make_samples.sh   (from anywhere; uses the repository's .venv when present)
set -euo pipefail
cd "$(dirname "$0")/.."
SCANGRADE=${SCANGRADE:-$( [ -x .venv/bin/scangrade ] && echo .venv/bin/scangrade || echo scangrade )}

# Blank printable sheets: one copy per roster student (copy numbers 1..14).
"$SCANGRADE" sheet samples/layout.yaml --copies 14 --out samples/sheets.pdf --force

# A scanned class set: 12 of the 14 roster students hand in, plus a blank page, a page of
# text and a sheet of another exam; digits are MNIST test digits. truth.json says what is
# on every page and box.
"$SCANGRADE" synth samples/layout.yaml --students 12 --key samples/key.csv \
    --roster samples/roster.csv --seed 2026 --dpi 200 \
    --blank-pages 1 --text-pages 1 --other-exam-pages 1 \
    --out samples/scans.pdf --truth samples/truth.json --force
