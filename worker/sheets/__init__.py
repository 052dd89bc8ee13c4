"""Answer sheets: the layout format, printable sheets and the QR payload on every page."""
