"""raw/<name>/<file>.csv in the uploads bucket -> datasets/<name>/train/<file>.csv in the data bucket, without
the rows that have an empty field. The data bucket's convention starts a training job on it."""

import os
from urllib.parse import unquote_plus

import boto3

s3 = boto3.client("s3")


def handler(event, context):
    written = []
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])  # S3 sends keys form-encoded
        parts = key.split("/")
        if len(parts) != 3 or parts[0] != "raw":
            print(f"skipping {key}: not raw/<name>/<file>")
            continue
        _, name, filename = parts
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        rows = [line for line in text.splitlines() if line.strip() and all(f.strip() for f in line.split(","))]
        out = f"datasets/{name}/train/{filename}"
        s3.put_object(Bucket=os.environ["DATA_BUCKET"], Key=out, Body=("\n".join(rows) + "\n").encode())
        print(f"{key}: kept {len(rows)} of {len(text.splitlines())} rows -> s3://{os.environ['DATA_BUCKET']}/{out}")
        written.append(out)
    return {"written": written}
