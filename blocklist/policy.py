"""The words a blocklist decision is made of, in one place: treatments, the withheld-caller policies,
the burst rule's actions, and which settings a line (or all lines) may change on the desk."""

from __future__ import annotations

TREATMENTS = ("reject", "isolation", "linefault", "hangup")
WITHHELD_POLICIES = ("allow", "linefault", "isolation", "reject")
BURST_ACTIONS = ("review", *TREATMENTS)
