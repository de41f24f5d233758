"""RQ jobs and the rq cron schedule. No Flask in here."""
