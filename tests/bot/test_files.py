"""Attachments: what is refused before download, and where the bot token may go."""

from __future__ import annotations

import http.server
import threading

import pytest

from mdbot.bot.files import Attachment, AttachmentError, check, download


@pytest.mark.parametrize(
    ("name", "size", "filetype", "message"),
    [
        ("../in.lj", 10, "text", "may not contain a path"),
        (".bashrc", 10, "text", "start with a dot"),
        ("in lj", 10, "text", "no spaces"),
        ("x" * 200, 10, "text", "plain file names"),
        ("data.big", 30_000_000, "text", "30.0 MB; the limit is 20.0 MB"),
        ("inputs.tar.gz", 10, "gzip", "archives are not unpacked"),
        ("picture.jpg", 10, "jpg", "jpg file"),
    ],
)
def test_attachment_checks(name, size, filetype, message):
    with pytest.raises(AttachmentError, match=message.replace(".", r"\.").replace("(", r"\(")):
        check(Attachment("F1", name, size, filetype, "", "https://files.slack.com/x"), 20_000_000)


def test_attachment_checks_accept_lammps_files():
    for name in ("in.melt", "data.cu", "Cu_u3.eam", "ffield.reax.cho", "h2o.mol", "CH.airebo", "in.lj+fix"):
        check(Attachment("F1", name, 1000, "text", "text/plain", "https://files.slack.com/x"), 20_000_000)


def test_a_redirect_off_slack_does_not_carry_the_token(tmp_path):
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            seen.append((self.headers.get("Host"), self.headers.get("Authorization")))
            if self.path == "/files/in.x":  # redirect to another host name of the same server
                self.send_response(302)
                self.send_header("Location", f"http://localhost:{self.server.server_port}/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b"units lj\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        a = Attachment("F1", "in.x", 9, "text", "text/plain", f"{base}/files/in.x")
        path = download(a, tmp_path, "xoxb-secret", f"{base}/api/", 1000)
    finally:
        server.shutdown()
    assert path.read_text() == "units lj\n"
    assert seen[0][1] == "Bearer xoxb-secret" and seen[1] == (f"localhost:{server.server_port}", None)


def test_the_token_goes_only_to_slack_or_the_api_host(tmp_path):
    a = Attachment("F1", "in.x", 9, "text", "text/plain", "https://evil.example.com/in.x")
    with pytest.raises(AttachmentError, match="not on Slack"):
        download(a, tmp_path, "xoxb-secret", "https://slack.com/api/", 1000)
    plain = Attachment("F1", "in.x", 9, "text", "text/plain", "http://files.slack.com/in.x")  # not https
    with pytest.raises(AttachmentError, match="not on Slack"):
        download(plain, tmp_path, "xoxb-secret", "https://slack.com/api/", 1000)
