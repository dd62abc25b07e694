"""``mdbot slack`` as an operator runs it: a real process in HTTP mode against the local Slack."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.bot import PATIENT_S
from tests.bot.slack_api import BOT_TOKEN, BOT_USER, SIGNING_SECRET, MockSlack, Sender, message_event

MDBOT = Path(sys.executable).with_name("mdbot")


def _env(data_dir: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDBOT_")}
    return env | {
        "MDBOT_DATA_DIR": str(data_dir),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        **extra,
    }


def test_mdbot_slack_serves_http_and_stops_cleanly(tmp_path, data_dir):
    with MockSlack() as slack:
        env = _env(
            data_dir,
            MDBOT_SLACK_BOT_TOKEN=BOT_TOKEN,
            MDBOT_SLACK_SIGNING_SECRET=SIGNING_SECRET,
            MDBOT_SLACK_API_URL=slack.api_url,
        )
        proc = subprocess.Popen(
            [str(MDBOT), "slack", "--port", "0"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
        )
        try:
            seen = []
            for line in proc.stderr:  # until the ready line (or the process ends)
                seen.append(line)
                if "is online" in line:
                    break
            ready = "".join(seen)
            m = re.search(r"HTTP on port (\d+), path /slack/events", ready)
            assert m, ready
            assert BOT_TOKEN not in ready and SIGNING_SECRET not in ready  # secrets never echoed
            send = Sender(f"http://127.0.0.1:{m.group(1)}/slack/events", slack.base + "/response/")
            send.event(message_event(f"<@{BOT_USER}> what is fix nvt?", kind="app_mention", ts="4000.000100"))
            assert slack.wait_for(lambda: slack.final("CLAB", "4000.000100"))
            # an unsigned request is refused
            bad = Sender(send.url, send.response_url, secret="wrong-secret")
            assert bad.event(message_event("hi", ts="4000.000200"))[0] == 401
        finally:
            proc.send_signal(signal.SIGTERM)
            rest = proc.communicate(timeout=PATIENT_S)[1]
        assert proc.returncode == 0, rest[-3000:]


def test_mdbot_slack_explains_a_bad_token(tmp_path, data_dir):
    with MockSlack() as slack:
        env = _env(
            data_dir,
            MDBOT_SLACK_BOT_TOKEN="xoxb-wrong",
            MDBOT_SLACK_APP_TOKEN="xapp-x",
            MDBOT_SLACK_API_URL=slack.api_url,
        )
        proc = subprocess.run(
            [str(MDBOT), "slack"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=PATIENT_S
        )
    assert proc.returncode == 2
    assert "Slack refused the bot token (invalid_auth)" in proc.stderr and "xoxb-wrong" not in proc.stderr


def test_mdbot_slack_explains_a_bad_app_token(tmp_path, data_dir):
    with MockSlack() as slack:
        env = _env(
            data_dir,
            MDBOT_SLACK_BOT_TOKEN=BOT_TOKEN,
            MDBOT_SLACK_APP_TOKEN="xapp-revoked",
            MDBOT_SLACK_API_URL=slack.api_url,
        )
        proc = subprocess.run(
            [str(MDBOT), "slack"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=PATIENT_S
        )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Slack refused the app-level token (invalid_auth)" in proc.stderr
    assert "xapp-revoked" not in proc.stderr and "Traceback" not in proc.stderr
