"""Tests of workers/: report folding, the cron schedule, Twilio upkeep jobs."""
