"""Tests of prompts/: the recordings, their catalog, the language a caller hears."""
