"""Tests of ivr/: the webhooks in call order, the API, the desk, the command line."""
