#!/usr/bin/env bash
# LocalStack ready hook: creates login-queue and sends it the sample messages,
# one per element of the JSON array, then marks the container healthy.
set -euo pipefail
sample=/opt/loginvault/login-queue-sample.json
awslocal sqs create-queue --queue-name login-queue >/dev/null
python_bin=python3
python3 -c 'import boto3' 2>/dev/null || python_bin=/opt/code/localstack/.venv/bin/python
"$python_bin" - "$sample" <<'PY'
import json, sys, boto3
sqs = boto3.client("sqs", endpoint_url="http://127.0.0.1:4566", region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test")
url = sqs.get_queue_url(QueueName="login-queue")["QueueUrl"]
messages = json.load(open(sys.argv[1], encoding="utf-8"))
for start in range(0, len(messages), 10):
    batch = messages[start:start + 10]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": json.dumps(m)} for i, m in enumerate(batch)])
print(f"seeded {len(messages)} messages into {url}")
PY
touch /tmp/loginvault-seeded
