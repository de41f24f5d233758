"""Tests of blocklist/: the screen, the rules, CSV import and export, phone numbers."""
