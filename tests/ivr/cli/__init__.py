"""The `ivr` command line."""
