#!/usr/bin/env python3
"""A webhook receiver for the tests and the bench (docs/webhooks.md).

Verifies each request's Shilian-Signature with verify() (the docs' example,
word for word), answers as told, and appends one JSON line per request to
the log: path, event id, attempt number (per event), whether the signature
verified, the status it answered, the body, and when it arrived.

  receiver.py [--port P] [--port-file F] --log L [--secrets S] [--fail-first N]
              [--timeout-every M --hang SECONDS]

--secrets: a JSON file {"/path": "whsec_..."} read on each request (the
test writes it after subscribing). --fail-first N: the first N attempts of
every event get 503. --timeout-every M: every M-th request (counted over
all) is held for --hang seconds before its 200, longer than the worker
waits. GET /stats answers {"requests": n}.
"""
import argparse
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


# --- the docs' example (docs/webhooks.md, "Verifying a delivery") ---------------
def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """True when header "t=...,v1=..." signs body with secret and t is recent."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if "t" not in fields or "v1" not in fields:
        return False
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    return (hmac.compare_digest(expected, fields["v1"])
            and abs(time.time() - int(fields["t"])) <= tolerance)
# --------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", required=True)
    ap.add_argument("--secrets")
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--timeout-every", type=int, default=0)
    ap.add_argument("--hang", type=float, default=0)
    ap.add_argument("--quiet-log", action="store_true", help="log only event id and time (bench)")
    args = ap.parse_args()

    lock = threading.Lock()
    attempts = {}
    counter = [0]
    logf = open(args.log, "a", buffering=1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def reply(self, status, text=b""):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def do_GET(self):
            with lock:
                n = counter[0]
            self.reply(200, json.dumps({"requests": n}).encode())

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            arrived = time.time()
            event = self.headers.get("Shilian-Event-Id", "")
            with lock:
                counter[0] += 1
                nth = counter[0]
                attempts[event] = attempts.get(event, 0) + 1
                attempt = attempts[event]
            if args.quiet_log:
                status = 200
                logf.write(json.dumps({"event": event, "at": arrived}) + "\n")
                self.reply(status)
                return
            secret = None
            if args.secrets:
                try:
                    with open(args.secrets) as f:
                        secret = json.load(f).get(self.path)
                except (OSError, ValueError):
                    secret = None
            sig_ok = bool(secret) and verify(secret, self.headers.get("Shilian-Signature", ""), body)
            if attempt <= args.fail_first:
                status = 503
            elif args.timeout_every and nth % args.timeout_every == 0:
                status = 0     # held past the worker's timeout: it gives up
            else:
                status = 200
            with lock:
                logf.write(json.dumps({"path": self.path, "event": event, "attempt": attempt,
                                       "idempotency_key": self.headers.get("Idempotency-Key"),
                                       "signature": self.headers.get("Shilian-Signature"),
                                       "sig_ok": sig_ok, "status": status, "at": arrived,
                                       "body": body.decode()}) + "\n")
            if status == 0:
                time.sleep(args.hang)
                try:
                    self.reply(200)
                except OSError:
                    pass
                return
            self.reply(status)

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
