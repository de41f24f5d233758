"""The contact restrictions' sweep (blocklist/restrictions.py), run by the cron: a restriction whose review date
passed goes on the managers' review list (once; it stays in force until a manager keeps or removes it), and one that
ended is written into the number's history at its end (the screen stopped applying it at that millisecond)."""

from __future__ import annotations

import logging

from workers import context

log = logging.getLogger("ivr.jobs")


def sweep_restrictions() -> dict[str, int]:
    """List the restrictions due for review and record the ones that ended; how many of each."""
    done = context.blocklist().sweep_restrictions()
    if any(done.values()):
        log.info("contact restrictions: %s up for review, %s ended", done["review"], done["ended"])
    return done
