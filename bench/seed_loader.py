#!/usr/bin/env python3
"""The baseline: a loader as the original take-home would have written it.
One process, one thread, boto3 and psycopg: receive 10 messages, parse each
body and mask ip and device_id with SHA-256 in Python, INSERT the batch
(executemany) into its own user_logins-like table and COMMIT, then delete the
10 with one DeleteMessageBatch. Stops after --count messages (or when a long
poll comes back empty).

    seed_loader.py --endpoint URL --queue NAME --count N --database CONNINFO

Prints one JSON line: {"messages", "seconds", "msgs_per_s", "requests", "requests_per_message"}.
"""
import argparse
import datetime
import hashlib
import json
import sys
import time

import boto3
import psycopg
from botocore.config import Config

TABLE = """
CREATE TABLE IF NOT EXISTS seed_user_logins (
  message_id       text PRIMARY KEY,
  user_id          varchar(128),
  device_type      varchar(32),
  masked_ip        varchar(256),
  masked_device_id varchar(256),
  locale           varchar(32),
  app_version      varchar(32),
  create_date      date
)"""


def mask(value):
    return None if value is None else hashlib.sha256(str(value).encode()).hexdigest()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--queue", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--database", required=True)
    p.add_argument("--wait", type=int, default=2)
    args = p.parse_args()

    sqs = boto3.client("sqs", endpoint_url=args.endpoint, region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test",
                       config=Config(retries={"max_attempts": 3, "mode": "standard"}))
    requests = [0]
    sqs.meta.events.register("before-send.sqs.*", lambda **_: requests.__setitem__(0, requests[0] + 1))
    url = sqs.get_queue_url(QueueName=args.queue)["QueueUrl"]
    requests[0] = 0
    db = psycopg.connect(args.database)
    db.execute(TABLE)
    db.commit()

    done = 0
    began = time.perf_counter()
    while done < args.count:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, args.count - done),
                                  WaitTimeSeconds=args.wait).get("Messages", [])
        if not got:
            break
        rows = []
        for m in got:
            e = json.loads(m["Body"])
            rows.append((m["MessageId"], e.get("user_id"), e.get("device_type"), mask(e.get("ip")),
                         mask(e.get("device_id")), e.get("locale"), e.get("app_version"),
                         datetime.date.today()))
        with db.cursor() as cur:
            cur.executemany("INSERT INTO seed_user_logins VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                            "ON CONFLICT (message_id) DO NOTHING", rows)
        db.commit()
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
        done += len(got)
    seconds = time.perf_counter() - began
    db.close()
    print(json.dumps({"messages": done, "seconds": round(seconds, 3), "msgs_per_s": round(done / seconds, 1),
                      "requests": requests[0], "requests_per_message": round(requests[0] / max(done, 1), 4)}))
    return 0 if done == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
