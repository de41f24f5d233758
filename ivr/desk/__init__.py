"""The desk: server-rendered pages for agents and managers, desk users, their sessions and API tokens.

Importing this package builds nothing: the blueprints live in `ivr.desk.views_*` and are registered by the
app factory; `ivr.accounts` holds the user store and has no Flask in it (the CLI uses it too).
"""
