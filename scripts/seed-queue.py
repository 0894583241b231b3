#!/usr/bin/env python3
"""Creates an SQS queue and sends it the messages of a JSON array file, one
message per element, in batches of ten: the demo's producer.

    seed-queue.py --endpoint-url URL --queue NAME FILE

Credentials and region come from the usual AWS variables (test values are fine
for moto and LocalStack). Prints the queue URL and how many were sent.
"""
import argparse
import json
import os
import sys

import boto3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL_SQS") or os.environ.get("AWS_ENDPOINT_URL"))
    parser.add_argument("--queue", default="login-queue")
    parser.add_argument("--purge", action="store_true", help="empty the queue first")
    parser.add_argument("file")
    args = parser.parse_args()

    with open(args.file, encoding="utf-8") as handle:
        messages = json.load(handle)
    sqs = boto3.client(
        "sqs",
        endpoint_url=args.endpoint_url,
        region_name=os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1")),
    )
    url = sqs.create_queue(QueueName=args.queue)["QueueUrl"]
    if args.purge:
        sqs.purge_queue(QueueUrl=url)
    sent = 0
    for start in range(0, len(messages), 10):
        batch = messages[start:start + 10]
        entries = [{"Id": str(i), "MessageBody": json.dumps(body)} for i, body in enumerate(batch)]
        result = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        if result.get("Failed"):
            print(f"failed to send: {result['Failed']}", file=sys.stderr)
            return 1
        sent += len(result.get("Successful", []))
    print(f"{url}: sent {sent} messages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
