"""The desk: agents' and managers' pages, logins, the browser tests."""
