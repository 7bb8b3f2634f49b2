"""A webhook receiver for the automation test, on 127.0.0.1.

Prints {"port": N} once it listens, then one JSON line per request with
the path, the headers (names in lower case), the body and, when WEBHOOK_SECRET is set, whether
X-Homesoc-Signature is the HMAC-SHA256 of the timestamp, a dot and the
body under that secret. Requests to paths under /fail get HTTP 500, all
others HTTP 200.
"""

import hashlib
import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode("utf-8")
        headers = {name.lower(): value for name, value in self.headers.items()}
        record = {"path": self.path, "headers": headers, "body": body}
        secret = os.environ.get("WEBHOOK_SECRET")
        signature = self.headers.get("X-Homesoc-Signature")
        if secret and signature:
            signed = self.headers.get("X-Homesoc-Timestamp", "") + "." + body
            digest = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
            record["signature_valid"] = hmac.compare_digest(signature, "sha256=" + digest)
        print(json.dumps(record), flush=True)
        status = 500 if self.path.startswith("/fail") else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
