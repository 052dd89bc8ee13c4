#!/usr/bin/env bash
# Installs the system tools scangrade needs when they are missing:
#   pdftoppm (poppler-utils) for rasterizing PDFs, redis-server for the queue
#   and chromium for the upload-page tests. Idempotent; needs root to install.
set -euo pipefail
declare -A package_for=([pdftoppm]=poppler-utils [redis-server]=redis-server [chromium]=chromium)
missing=()
for tool in pdftoppm redis-server chromium; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${package_for[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" fonts-dejavu-core >/dev/null
else
    echo "scangrade needs these system packages: ${missing[*]}" >&2
    echo "Install them, e.g.: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
