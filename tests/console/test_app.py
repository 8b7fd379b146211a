"""``parlay campaign|users|skills|handoffs`` against a live Parlay: a file of 10,000 recipients
checked, sent in chunks and followed to FINISHED; the same command again sends nothing twice;
errors in one line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner, Result

from parlay.cli import main
from parlay.client import Parlay
from tests.client.conftest import Brand, Live


def run(brand: Brand, *args: str, login: bool = False) -> Result:
    env = {"PARLAY_URL": brand.url, "PARLAY_ACCOUNT": brand.account_id}
    if login:
        env |= {"PARLAY_USERNAME": "admin", "PARLAY_PASSWORD": brand.admin_password}
    else:
        env["PARLAY_API_KEY"] = brand.api_key
    return CliRunner().invoke(main, list(args), env=env)


def recipients_file(path: Path, rows: int) -> dict[int, str]:
    """``rows`` recipients of which 50 are refused; returns the refused ones' line and reason."""
    bad: dict[int, str] = {}
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["phone", "1"])
        for i in range(rows):
            line = i + 2  # the header is line 1
            phone, name = f"+4477009{i:05d}", f"name {i}"
            if i % 500 == 1:
                phone, bad[line] = "12-ab", "INVALID_NUMBER"
            elif i % 1000 == 2:
                name, bad[line] = "", "MISSING_VARIABLE=1"
            elif i % 1000 == 3:
                phone, bad[line] = f"+4477009{i - 3:05d}", "DUPLICATE_NUMBER"
            elif i % 1000 == 503:
                phone, bad[line] = "", "MISSING_CONSUMER_INFORMATION=wa"
            out.writerow([phone, name])
    return bad


def sent_so_far(brand: Brand) -> tuple[int, int]:
    """(campaigns, recipients) of the account."""
    with Parlay(brand.url, brand.account_id, api_key=brand.api_key) as client:
        campaigns = list(client.campaigns())
        return len(campaigns), sum(c["acceptedConsumers"] for c in campaigns)


def test_a_file_is_checked_sent_in_chunks_and_followed_to_finished_and_never_sent_twice(
    live: Live, tmp_path: Path
) -> None:
    brand = live.brand()
    path = tmp_path / "renewals.csv"
    bad = recipients_file(path, 10_000)
    assert len(bad) == 50
    send = ["campaign", "send", "--csv", str(path), "--handoff", brand.handoff_id]
    send += ["--skill", "general", "--interval", "0.2"]

    checked = run(brand, *send, "--check")
    assert checked.exit_code == 1, checked.output
    listed = checked.output.splitlines()
    assert listed[0] == f"{path}: 10000 rows, 9950 to send, 50 refused"
    assert listed[1:] == [f"  line {line}: {reason}" for line, reason in sorted(bad.items())]
    assert sent_so_far(brand) == (0, 0)

    first = run(brand, *send)
    assert first.exit_code == 0, first.output + first.stderr
    assert sum(f"chunk {n}/10: campaign " in first.output for n in range(1, 11)) == 10
    assert "9950/9950" in first.output  # the accepted and sent bars, full
    assert first.output.splitlines()[-1] == (
        "FINISHED: 9950 accepted, 9950 sent, 0 failed, 0 skipped"
    )
    assert sent_so_far(brand) == (10, 9950)

    again = run(brand, *send, "--no-watch")
    assert again.exit_code == 0, again.output + again.stderr
    assert sent_so_far(brand) == (10, 9950)
    assert "FINISHED: 9950 accepted, 9950 sent" in again.output

    listing = run(brand, "campaign", "list")
    assert listing.exit_code == 0
    assert sum(line.startswith("renewals ") for line in listing.output.splitlines()) == 10


def test_status_follows_a_campaign_until_it_finishes(live: Live) -> None:
    brand = live.brand()
    with Parlay(brand.url, brand.account_id, api_key=brand.api_key) as client:
        accepted = client.create_campaign(
            name="two",
            skill="general",
            handoff_id=brand.handoff_id,
            consumers=[
                {"consumerContent": {"wa": f"+447700900{i}"}, "variables": {"1": "x"}}
                for i in range(2)
            ],
        )
    campaign_id = accepted["proactiveCampaignId"]
    watched = run(brand, "campaign", "status", campaign_id, "--watch", "--interval", "0.1")
    assert watched.exit_code == 0, watched.output
    assert f"{campaign_id} 'two': FINISHED" in watched.output
    assert "  SENT: 2" in watched.output


def test_an_api_error_ends_the_command_with_its_detail_on_one_line(live: Live) -> None:
    brand = live.brand()
    missing = run(brand, "campaign", "status", "no-such-campaign")
    assert missing.exit_code == 1
    assert missing.stderr.splitlines() == ["error: 404 [1004] no campaign 'no-such-campaign'"]
    forbidden = run(brand, "users", "list")
    assert forbidden.exit_code == 1
    assert forbidden.stderr.startswith("error: 403 [1101] ")


def test_an_admin_lists_and_creates_skills_users_and_handoffs(live: Live, tmp_path: Path) -> None:
    brand = live.brand()
    assert run(brand, "skills", "create", "billing", login=True).exit_code == 0
    created = run(
        brand,
        "users",
        "create",
        "ann",
        "--new-password",
        "long enough",
        "--role",
        "agent",
        "--skill",
        "billing",
        login=True,
    )
    assert created.exit_code == 0, created.output + created.stderr
    handoff = tmp_path / "handoff.json"
    handoff.write_text(
        json.dumps({"name": "sms reminder", "channels": [{"type": "sms", "messageText": "Hi"}]})
    )
    made = run(brand, "handoffs", "create", "--file", str(handoff), login=True)
    assert made.exit_code == 0, made.output + made.stderr

    assert "billing" in run(brand, "skills", "list", login=True).output
    users = run(brand, "users", "list", login=True).output
    assert "ann" in users
    assert "agent" in users
    assert "sms reminder" in run(brand, "handoffs", "list", login=True).output
