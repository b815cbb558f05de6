"""An example qoo10hook webhook receiver in Python, standard library only.

It verifies each delivery's signature on the raw body (Standard Webhooks:
HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}"), answers at
once, drops deliveries it has seen (same webhook-id), and processes the
rest after answering.

    QOO10HOOK_WEBHOOK_SECRET=whsec_... python3 receiver.py

It listens on 127.0.0.1:$PORT (default 9000) and prints one line per
event it processes.
"""
import base64
import hashlib
import hmac
import json
import os
import queue
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ.get("QOO10HOOK_WEBHOOK_SECRET", "")
if not SECRET.startswith("whsec_"):
    sys.exit("QOO10HOOK_WEBHOOK_SECRET must hold the endpoint's whsec_ secret")
KEY = base64.b64decode(SECRET[len("whsec_"):])
TOLERANCE = 5 * 60  # seconds a timestamp may be off: replayed deliveries are refused


def verify(body: bytes, headers) -> bool:
    """Whether body carries a valid signature for its id and timestamp."""
    msg_id = headers.get("webhook-id", "")
    ts = headers.get("webhook-timestamp", "")
    sigs = headers.get("webhook-signature", "")
    try:
        if abs(time.time() - int(ts)) > TOLERANCE:
            return False
    except ValueError:
        return False
    signed = msg_id.encode() + b"." + ts.encode() + b"." + body
    want = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
    # The header holds space-separated "v1,<base64>" signatures (several
    # while a secret is rotated): one match is enough.
    return any(
        s.startswith("v1,") and hmac.compare_digest(s[3:], want) for s in sigs.split()
    )


# The webhook-ids already taken. A real receiver keeps them where it keeps
# the orders: qoo10hook delivers at least once, and sends an event again
# when asked to.
seen = set()
seen_lock = threading.Lock()
work = queue.Queue()


def process(ev):
    """Where the receiver's own work goes: store the order, reserve stock."""
    orders = [it.get("order_no") for it in ev["data"].get("items", [])]
    print("processed", ev["id"], ev["type"], "seller", ev["data"].get("seller_id"),
          "cart", ev["data"].get("pack_no"), "orders", orders, flush=True)


def worker():
    while True:
        process(work.get())


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 1 << 20:
            self.send_response(413)
            self.end_headers()
            return
        # The signature covers the exact bytes sent: verify them before
        # any decoding.
        body = self.rfile.read(n)
        if not verify(body, self.headers):
            self.send_response(401)
            self.end_headers()
            return
        msg_id = self.headers["webhook-id"]
        with seen_lock:
            first = msg_id not in seen
            seen.add(msg_id)
        if not first:
            print("duplicate", msg_id, flush=True)
            self.send_response(200)
            self.end_headers()
            return
        # Answer now; the work happens after (qoo10hook waits at most
        # delivery.timeout, and retries what it does not see answered).
        work.put(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass  # one line per event is enough


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "9000"))
    threading.Thread(target=worker, daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"receiving webhooks on http://127.0.0.1:{port}/", file=sys.stderr, flush=True)
    server.serve_forever()
