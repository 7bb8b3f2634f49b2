"""Runs a KQL query against homesoc with the azure-kusto-data client.

Reads HOMESOC_URL, HOMESOC_KEY and the query from the environment; the
server's certificate comes from REQUESTS_CA_BUNDLE. Prints one JSON object
with the column names and types and the rows of the primary result.
"""

import json
import os

from azure.kusto.data import KustoClient, KustoConnectionStringBuilder


def main():
    key = os.environ["HOMESOC_KEY"]
    builder = KustoConnectionStringBuilder.with_token_provider(os.environ["HOMESOC_URL"], lambda: key)
    client = KustoClient(builder)
    response = client.execute_query("homesoc", os.environ["HOMESOC_QUERY"])
    table = response.primary_results[0]
    columns = [{"name": c.column_name, "type": c.column_type} for c in table.columns]
    rows = [[str(value) for value in row] for row in table]
    print(json.dumps({"columns": columns, "rows": rows}))


if __name__ == "__main__":
    main()
