"""What an agent can do to a caller, one rule for the phone keys, the desk buttons and the API: flag it
(isolation and the blocklist), or move a difficult caller (a supervisor, the warning, a call back)."""
