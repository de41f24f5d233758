"""The `ivr` command: every group and command, mounted explicitly.

    serve, web, worker, cron, settings, twilio   ivr/cli/serve.py
    blocklist, allowlist                         ivr/cli/blocklist.py
    feeds                                        ivr/cli/feeds.py
    restrict                                     ivr/cli/restrict.py
    report                                       ivr/cli/report.py
    users                                        ivr/cli/users.py
    prompts                                      ivr/cli/prompts.py
    simulate                                     ivr/cli/simulate.py
    evaluate                                     ivr/cli/evaluate.py
"""

from __future__ import annotations

import click

from ivr.cli import blocklist, evaluate, feeds, prompts, report, restrict, simulate, users
from ivr.cli import serve as service


@click.group()
def main() -> None:
    """Telephony IVR harassment filter: webhooks, workers and operations."""


for _command in (service.serve, service.web, service.worker, service.cron, service.settings, service.twilio):
    main.add_command(_command)
main.add_command(blocklist.blocklist_group, "blocklist")
main.add_command(blocklist.allowlist_group, "allowlist")
main.add_command(feeds.group, "feeds")
main.add_command(restrict.group, "restrict")
main.add_command(report.group, "report")
main.add_command(prompts.group, "prompts")
main.add_command(users.group, "users")
main.add_command(simulate.command, "simulate")
main.add_command(evaluate.command, "evaluate")
