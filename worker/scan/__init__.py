"""The scan path: a scanned PDF rasterized page by page, each page aligned onto its layout by
its markers and QR code, every digit box cropped and read in one batch per chunk."""
