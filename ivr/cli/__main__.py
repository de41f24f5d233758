"""`python -m ivr.cli worker|cron|...`: how `ivr serve` starts its children."""

from ivr.cli import main

main()
