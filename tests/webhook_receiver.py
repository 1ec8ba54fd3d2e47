#!/usr/bin/env python3
"""A webhook receiver for the end-to-end tests, verifying with the Standard
Webhooks reference library (`standardwebhooks` from PyPI, installed into
tests/.venv by scripts/setup).

It listens on 127.0.0.1 (the port given, or one picked and printed as
`listening on http://127.0.0.1:PORT`). Every POST is checked against each
secret in the secrets file (a JSON object of label -> `whsec_...` secret,
re-read on every request so a test can rotate without a restart); the answer
is 204 when at least one secret verifies, 401 otherwise, and 410 on the
--gone-path. `GET /_received` returns every request as JSON: its path,
webhook-id, how many signatures it carried, which labels verified, whether
the webhook-id was seen before (deduplication), and the parsed body.
"""

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

MAX_BODY = 1 << 20


class Receiver(BaseHTTPRequestHandler):
    received = []
    seen = set()
    lock = threading.Lock()
    secrets_file = None
    gone_path = None

    def log_message(self, *_args):
        # The test reads /_received; stderr stays quiet.
        pass

    def answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if body:
            self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path != "/_received":
            return self.answer(404)
        with self.lock:
            body = json.dumps(self.received).encode()
        self.answer(200, body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0") or "0")
        if length < 0 or length > MAX_BODY:
            return self.answer(413)
        raw = self.rfile.read(length).decode("utf-8", errors="replace")
        headers = {k.lower(): v for k, v in self.headers.items()}
        with open(self.secrets_file, encoding="utf-8") as f:
            secrets = json.load(f)
        verified = []
        for label, secret in sorted(secrets.items()):
            try:
                Webhook(secret).verify(raw, headers)
                verified.append(label)
            except WebhookVerificationError:
                pass
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        webhook_id = headers.get("webhook-id")
        gone = self.path == self.gone_path
        with self.lock:
            duplicate = webhook_id in self.seen
            if verified and not gone:
                self.seen.add(webhook_id)
            self.received.append(
                {
                    "path": self.path,
                    "webhook_id": webhook_id,
                    "timestamp": headers.get("webhook-timestamp"),
                    "signatures": len(headers.get("webhook-signature", "").split()),
                    "verified_with": verified,
                    "duplicate": duplicate,
                    "body": body,
                }
            )
        if gone:
            return self.answer(410)
        self.answer(204 if verified else 401)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secrets-file", required=True)
    parser.add_argument("--gone-path", default="/gone")
    args = parser.parse_args()
    Receiver.secrets_file = args.secrets_file
    Receiver.gone_path = args.gone_path
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Receiver)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
