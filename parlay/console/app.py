"""The commands on the API client, in Typer: each group becomes a subcommand of ``parlay``
(see ``commands``). They reach a Parlay over HTTP like any brand system; none opens the
database."""

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NoReturn, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from parlay.client import Parlay, ParlayClientError
from parlay.client import types as t
from parlay.client.errors import ApiError

# What a recipient's delivery status counts as on the progress bars.
SENT = frozenset({"SENT", "DELIVERED", "READ", "REPLIED"})
FAILED = frozenset({"FAILED", "EXPIRED"})
SKIPPED = frozenset({"SKIPPED", "CANCELLED"})
# A campaign in one of these changes no more (until someone retries its failed deliveries).
SETTLED = frozenset({"FINISHED", "CANCELLED", "FAILED"})
# The API's answer to an Idempotency-Key reused with another body.
REUSED_KEY = 1030

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


@dataclass(frozen=True)
class Target:
    """Which Parlay and account the commands talk to, and as whom."""

    url: str
    account: str
    api_key: str | None
    username: str | None
    password: str | None

    def client(self) -> Parlay:
        if not self.account:
            fail("no account: set PARLAY_ACCOUNT or pass --account")
        client = Parlay(self.url, self.account, api_key=self.api_key)
        if self.api_key is None:
            if self.username is None or self.password is None:
                fail("no credential: set PARLAY_API_KEY, or PARLAY_USERNAME and PARLAY_PASSWORD")
            client.login(self.username, self.password)
        return client


def show(columns: list[str], rows: list[list[str]]) -> None:
    """A table on a terminal; tab-separated lines with a header row when piped (for scripts)."""
    if out.is_terminal:
        table = Table(*columns[:-1])
        table.add_column(columns[-1], no_wrap=True)  # the ID: copied whole
        for row in rows:
            table.add_row(*row)
        out.print(table)
        return
    for line in [columns, *rows]:
        out.print("\t".join(line), markup=False)


def fail(message: str) -> NoReturn:
    err.print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(1)


def _problem_line(exc: ParlayClientError) -> str:
    if isinstance(exc, ApiError):
        fields = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
        detail = exc.detail if not fields or fields in exc.detail else f"{exc.detail} ({fields})"
        code = f" [{exc.error_code}]" if exc.error_code is not None else ""
        return f"{exc.status}{code} {detail}"
    return str(exc)


@contextmanager
def connected(ctx: typer.Context) -> Iterator[Parlay]:
    """The client of the group's target; an API error ends the command with its problem detail
    on one line and exit status 1."""
    target = ctx.find_object(Target)
    if target is None:  # pragma: no cover - every group's callback sets it
        fail("no target")
    try:
        with target.client() as client:
            yield client
    except ParlayClientError as exc:
        fail(_problem_line(exc))


Url = Annotated[str, typer.Option("--url", envvar="PARLAY_URL", help="Parlay's base URL.")]
Account = Annotated[
    str, typer.Option("--account", envvar="PARLAY_ACCOUNT", help="The account (brand) ID.")
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="PARLAY_API_KEY",
        help="An API key, or a staff login token.",
        show_default=False,
    ),
]
Username = Annotated[
    str | None,
    typer.Option("--username", envvar="PARLAY_USERNAME", help="Log in as this staff user."),
]
Password = Annotated[
    str | None,
    typer.Option("--password", envvar="PARLAY_PASSWORD", help="The staff user's password."),
]


def _target(
    ctx: typer.Context,
    url: Url = "http://127.0.0.1:8080",
    account: Account = "",
    api_key: ApiKey = None,
    username: Username = None,
    password: Password = None,
) -> None:
    ctx.obj = Target(url, account, api_key or None, username, password)


def _group(help: str) -> typer.Typer:
    app = typer.Typer(help=help, no_args_is_help=True, add_completion=False)
    app.callback()(_target)
    return app


campaign = _group("Send and follow campaigns (API key scopes: proactive, handoffs:read).")
users = _group("Staff users (an admin's login).")
skills = _group("Skills (an admin's login).")
handoffs = _group("Handoffs (an admin's or campaign manager's login).")


# Campaigns --------------------------------------------------------------------------------------


def _tally(counts: dict[str, int]) -> tuple[int, int, int]:
    sent = sum(n for status, n in counts.items() if status in SENT)
    failed = sum(n for status, n in counts.items() if status in FAILED)
    skipped = sum(n for status, n in counts.items() if status in SKIPPED)
    return sent, failed, skipped


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:>8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
    )


def watch(
    client: Parlay,
    campaign_ids: list[str],
    progress: Progress,
    *,
    interval: float,
    follow: bool = True,
) -> dict[str, t.Campaign]:
    """Poll the campaigns until every one is settled (or once, without ``follow``), moving the
    sent and failed bars; returns each campaign as last read."""
    last: dict[str, t.Campaign] = {}
    sent_bar = progress.add_task("sent", total=None)
    failed_bar = progress.add_task("failed", total=None)
    while True:
        for campaign_id in campaign_ids:
            if campaign_id not in last or last[campaign_id]["campaignStatus"] not in SETTLED:
                last[campaign_id] = client.get_campaign(campaign_id)
        accepted = sum(c["acceptedConsumers"] for c in last.values())
        totals = [_tally(c["counts"]) for c in last.values()]
        progress.update(sent_bar, total=accepted, completed=sum(s for s, _, _ in totals))
        progress.update(failed_bar, total=accepted, completed=sum(f + k for _, f, k in totals))
        if not follow or all(c["campaignStatus"] in SETTLED for c in last.values()):
            return last
        time.sleep(interval)


def _summary(campaigns: dict[str, t.Campaign]) -> str:
    totals = [_tally(c["counts"]) for c in campaigns.values()]
    statuses = sorted({c["campaignStatus"] for c in campaigns.values()})
    return (
        f"{'/'.join(statuses)}: {sum(c['acceptedConsumers'] for c in campaigns.values())} "
        f"accepted, {sum(s for s, _, _ in totals)} sent, {sum(f for _, f, _ in totals)} failed, "
        f"{sum(k for _, _, k in totals)} skipped"
    )


@campaign.command("send")
def campaign_send(
    ctx: typer.Context,
    csv_file: Annotated[
        Path,
        typer.Option("--csv", exists=True, dir_okay=False, help="The recipients (docs/cli.md)."),
    ],
    handoff: Annotated[str, typer.Option("--handoff", help="The handoff (templateId).")],
    skill: Annotated[str, typer.Option("--skill", help="The skill replies are routed to.")],
    message: Annotated[
        str | None, typer.Option("--message", help="The text, instead of the handoff's.")
    ] = None,
    chunk: Annotated[
        int, typer.Option("--chunk", min=1, max=100_000, help="Recipients per campaign.")
    ] = 1000,
    name: Annotated[
        str | None, typer.Option("--name", help="Campaign name (default: the file's name).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only check the file; send nothing.")
    ] = False,
    follow: Annotated[
        bool, typer.Option("--watch/--no-watch", help="Follow the sends until FINISHED.")
    ] = True,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between polls.")
    ] = 1.0,
) -> None:
    """Check a CSV file of recipients, then send it in chunks of --chunk, each a campaign; the
    same command again sends nothing twice."""
    from parlay.console.recipients_file import FileRefused, read
    from parlay.handoffs.snapshot import HandoffSnapshot

    with connected(ctx) as client:
        snapshot = HandoffSnapshot.from_json(client.get_handoff(handoff))
        try:
            checked = read(csv_file.read_bytes(), snapshot, skill=skill, message=message)
        except FileRefused as exc:
            fail(f"{csv_file}: {exc}")
        out.print(
            f"{csv_file}: {checked.rows} rows, {len(checked.consumers)} to send, "
            f"{len(checked.bad)} refused",
            markup=False,
        )
        for bad in checked.bad:
            out.print(f"  line {bad.line}: {bad.reason}", markup=False)
        if check:
            raise typer.Exit(1 if checked.bad else 0)
        if not checked.consumers:
            fail("no row to send")
        title = name or csv_file.stem
        count = checked.chunk_count(chunk)
        campaign_ids: list[str] = []
        with _progress() as progress:
            accepted_bar = progress.add_task("accepted", total=len(checked.consumers))
            for index, consumers in checked.chunks(chunk):
                try:
                    answer = client.create_campaign(
                        name=f"{title} {index + 1}/{count}",
                        skill=skill,
                        handoff_id=handoff,
                        consumers=consumers,
                        message=message,
                        idempotency_key=checked.idempotency_key(chunk, index),
                    )
                except ApiError as exc:
                    if exc.error_code == REUSED_KEY:
                        fail(
                            f"chunk {index + 1}/{count}: this file was sent before with other "
                            "options (--handoff, --skill, --message or the rows it refused); "
                            "nothing was sent again"
                        )
                    raise
                campaign_ids.append(answer["proactiveCampaignId"])
                progress.advance(accepted_bar, answer["acceptedCount"])
                progress.console.print(
                    f"chunk {index + 1}/{count}: campaign {answer['proactiveCampaignId']}, "
                    f"{answer['acceptedCount']} accepted, {len(answer['failedConsumers'])} refused",
                    markup=False,
                )
                for refused in answer["failedConsumers"]:
                    progress.console.print(
                        f"  refused by the server: {refused['errorMessage']}", markup=False
                    )
            final = watch(client, campaign_ids, progress, interval=interval, follow=follow)
        out.print(_summary(final), markup=False)


@campaign.command("status")
def campaign_status(
    ctx: typer.Context,
    campaign_id: Annotated[str, typer.Argument(help="The campaign (proactiveCampaignId).")],
    follow: Annotated[bool, typer.Option("--watch", help="Follow it until it finishes.")] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between polls.")
    ] = 1.0,
) -> None:
    """A campaign's status and its recipients counted by delivery status."""
    with connected(ctx) as client:
        with _progress() as progress:
            final = watch(client, [campaign_id], progress, interval=interval, follow=follow)
        found = final[campaign_id]
        out.print(
            f"{found['proactiveCampaignId']} {found['campaignName']!r}: {found['campaignStatus']}",
            markup=False,
        )
        for status, n in sorted(found["counts"].items()):
            out.print(f"  {status}: {n}", markup=False)
        out.print(_summary(final), markup=False)


@campaign.command("list")
def campaign_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="Only in this status.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
) -> None:
    """The account's campaigns, newest first."""
    with connected(ctx) as client:
        rows = []
        for n, c in enumerate(client.campaigns(status=status, page_size=min(limit, 1000))):
            if n == limit:
                break
            rows.append(
                [
                    c["campaignName"],
                    c["campaignStatus"],
                    str(c["acceptedConsumers"]),
                    str(c["failedConsumers"]),
                    c["createdAt"][:19],
                    c["proactiveCampaignId"],
                ]
            )
        show(["name", "status", "accepted", "failed", "created", "id"], rows)


@campaign.command("cancel")
def campaign_cancel(
    ctx: typer.Context, campaign_id: Annotated[str, typer.Argument(help="The campaign.")]
) -> None:
    """Cancel a campaign: its queued deliveries become CANCELLED."""
    with connected(ctx) as client:
        found = client.cancel_campaign(campaign_id)
        out.print(f"{found['proactiveCampaignId']}: {found['campaignStatus']}", markup=False)


# Administration ---------------------------------------------------------------------------------


@users.command("list")
def users_list(ctx: typer.Context) -> None:
    """The account's staff users."""
    with connected(ctx) as client:
        rows = [
            [
                u["username"],
                ",".join(u["roles"]),
                ",".join(u["skills"]),
                u["type"],
                "yes" if u["disabled"] else "",
                str(u["id"]),
            ]
            for u in client.list_users()
        ]
        show(["username", "roles", "skills", "type", "disabled", "id"], rows)


@users.command("create")
def users_create(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The new user's name.")],
    new_password: Annotated[
        str, typer.Option("--new-password", prompt=True, hide_input=True, help="8+ characters.")
    ],
    role: Annotated[
        list[str], typer.Option("--role", help="admin, campaign_manager, agent_manager, agent.")
    ],
    skill: Annotated[
        list[str] | None, typer.Option("--skill", help="A skill (repeatable).")
    ] = None,
    bot: Annotated[bool, typer.Option("--bot", help="A bot (holds the agent role only).")] = False,
) -> None:
    """Create a staff user."""
    with connected(ctx) as client:
        user = client.create_user(
            username=username,
            password=new_password,
            roles=role,
            type="bot" if bot else None,
            skills=skill,
        )
        out.print(f"user {user['id']} {user['username']!r} created", markup=False)


@skills.command("list")
def skills_list(ctx: typer.Context) -> None:
    """The account's skills."""
    with connected(ctx) as client:
        rows = [[x["name"], x["createdAt"][:19], str(x["id"])] for x in client.list_skills()]
        show(["name", "created", "id"], rows)


@skills.command("create")
def skills_create(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The skill's name.")]
) -> None:
    """Create a skill."""
    with connected(ctx) as client:
        created = client.create_skill(name)
        out.print(f"skill {created['id']} {created['name']!r} created", markup=False)


@handoffs.command("list")
def handoffs_list(ctx: typer.Context) -> None:
    """The account's handoffs, oldest first."""
    with connected(ctx) as client:
        rows = [
            [h["name"], h["skill"] or "", ",".join(c["type"] for c in h["channels"]), h["id"]]
            for h in client.list_handoffs()
        ]
        show(["name", "skill", "channels", "id"], rows)


@handoffs.command("create")
def handoffs_create(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Option(
            "--file", exists=True, dir_okay=False, help="The handoff as JSON (docs/handoffs.md)."
        ),
    ],
) -> None:
    """Create a handoff from a JSON file; prints its ID."""
    try:
        body = json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        fail(f"{file}: not JSON ({exc})")
    if not isinstance(body, dict):
        fail(f"{file}: a handoff is a JSON object")
    with connected(ctx) as client:
        created = client.create_handoff(cast(t.HandoffIn, body))
        out.print(f"handoff {created['id']} {created['name']!r} created", markup=False)


GROUPS: dict[str, typer.Typer] = {
    "campaign": campaign,
    "users": users,
    "skills": skills,
    "handoffs": handoffs,
}


def run_group(name: str, args: list[str]) -> None:
    """Run the group ``name`` on ``args``: it parses them, prints its own help and errors, and
    exits with their status (Typer carries its own copy of click, so it runs standalone)."""
    group = typer.main.get_command(GROUPS[name])
    group.main(args=args, prog_name=f"parlay {name}", standalone_mode=True)
