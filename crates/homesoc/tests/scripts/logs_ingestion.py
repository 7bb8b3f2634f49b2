"""Uploads records to homesoc with Azure's own Logs Ingestion client.

Reads HOMESOC_URL, HOMESOC_KEY, HOMESOC_CA (the server's certificate),
HOMESOC_RULE and HOMESOC_STREAM from the environment, and the records to
send as a JSON array on standard input. Prints one JSON line: the number of
records sent and the errors the client reported.
"""

import json
import os
import sys
import time

from azure.core.credentials import AccessToken
from azure.monitor.ingestion import LogsIngestionClient


class ApiKeyCredential:
    """A TokenCredential that hands homesoc's API key over as the token."""

    def __init__(self, key):
        self.key = key

    def get_token(self, *scopes, **kwargs):
        return AccessToken(self.key, int(time.time()) + 3600)


def main():
    records = json.load(sys.stdin)
    client = LogsIngestionClient(
        endpoint=os.environ["HOMESOC_URL"],
        credential=ApiKeyCredential(os.environ["HOMESOC_KEY"]),
        connection_verify=os.environ["HOMESOC_CA"],
        logging_enable=False,
    )
    failures = []

    def on_error(error):
        failures.append(str(error.error))

    client.upload(
        rule_id=os.environ["HOMESOC_RULE"],
        stream_name=os.environ["HOMESOC_STREAM"],
        logs=records,
        on_error=on_error,
    )
    print(json.dumps({"sent": len(records), "failures": failures}))


if __name__ == "__main__":
    main()
