"""Sections of the one settings object; each area of the product owns one file here."""
