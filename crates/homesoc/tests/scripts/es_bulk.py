"""Sends Winlogbeat documents to homesoc with the elasticsearch client's
bulk helper.

Reads HOMESOC_URL, HOMESOC_KEY and HOMESOC_CA from the environment and the
documents as a JSON array on standard input. Prints one JSON line with the
helper's success count and errors.
"""

import json
import os
import sys

from elasticsearch import Elasticsearch, helpers


def main():
    documents = json.load(sys.stdin)
    client = Elasticsearch(
        os.environ["HOMESOC_URL"],
        api_key=os.environ["HOMESOC_KEY"],
        ca_certs=os.environ["HOMESOC_CA"],
    )
    info = client.info()
    actions = [
        {"_op_type": "create", "_index": "winlogbeat-8.17.0", "_source": document}
        for document in documents
    ]
    success, errors = helpers.bulk(client, actions, raise_on_error=False, chunk_size=50)
    print(json.dumps({"version": info["version"]["number"], "success": success, "errors": errors}))


if __name__ == "__main__":
    main()
