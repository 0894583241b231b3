#!/usr/bin/env python3
"""Generates SQS JSON-protocol requests, signs them with botocore's SigV4Auth at fixed
timestamps, and prints them as JSON for SigV4Tests (BotocoreCrossCheckTests.swift).

Requests are serialised by botocore's own SQS serializer (AWS JSON 1.0), so headers and
bodies are exactly what boto3 would send. No network is used. Deterministic (fixed seed).

Every third request carries its JSON body as raw UTF-8 (as loginvault sends it) instead of
botocore's ASCII-escaped form.

Output: {"botocore": version, "cases": [{name, method, url, headers: [[k, v]], body,
region, accessKeyId, secretAccessKey, sessionToken, timestamp (epoch seconds),
creq, sts, authz}]}; headers are those present before signing (botocore adds Host from
the URL, X-Amz-Date and X-Amz-Security-Token while signing).
"""
import datetime
import json
import random
import sys
from unittest import mock

import botocore
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.serialize
import botocore.session

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 300
rng = random.Random(20240611)

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1", "eu-central-1", "cn-north-1", "us-gov-west-1"]
TIMESTAMPS = [
    datetime.datetime(2015, 8, 30, 12, 36, 0),
    datetime.datetime(2024, 2, 29, 23, 59, 59),
    datetime.datetime(2025, 1, 1, 0, 0, 0),
    datetime.datetime(2031, 12, 31, 7, 5, 9),
]
TEXTS = [
    "hello", "", " leading and trailing ", "ünïcödé ✓ — 日本語 🚀", "line1\nline2\ttab",
    'quotes " and \\ backslash', "{\"json\": [1, 2, 3]}", "a&b=c?d/e%20f+g", "\u00e9\u0301 combining",
    "x" * 300, "emoji 👩‍👩‍👧 family", "<xml attr='1'>&amp;</xml>",
]


def endpoint_for(region):
    choice = rng.randrange(6)
    if choice == 0:
        return f"http://127.0.0.1:{rng.randrange(1024, 65535)}"
    if choice == 1:
        return "http://localhost:4566"
    if choice == 2:
        return f"https://sqs.{region}.amazonaws.com:443"
    if choice == 3:
        return "http://127.0.0.1:80"
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://sqs.{region}.{suffix}"


def queue_url(endpoint):
    return f"{endpoint}/123456789012/queue-{rng.randrange(1000)}"


def text():
    return rng.choice(TEXTS) + rng.choice(["", str(rng.randrange(10**6))])


def params_for(action, endpoint):
    q = queue_url(endpoint)
    if action == "GetQueueUrl":
        return {"QueueName": f"q-{rng.randrange(1000)}"}
    if action == "GetQueueAttributes":
        return {"QueueUrl": q, "AttributeNames": rng.choice([["All"], ["ApproximateNumberOfMessages", "VisibilityTimeout"]])}
    if action == "ReceiveMessage":
        p = {"QueueUrl": q, "MaxNumberOfMessages": rng.randrange(1, 11), "WaitTimeSeconds": rng.randrange(0, 21),
             "MessageSystemAttributeNames": ["SentTimestamp", "ApproximateReceiveCount"]}
        if rng.random() < 0.5:
            p["VisibilityTimeout"] = rng.randrange(0, 600)
        return p
    if action == "DeleteMessageBatch":
        return {"QueueUrl": q, "Entries": [{"Id": f"e{i}", "ReceiptHandle": f"rh-{rng.randrange(10**9)}+/="} for i in range(rng.randrange(1, 11))]}
    if action == "ChangeMessageVisibilityBatch":
        return {"QueueUrl": q, "Entries": [{"Id": f"e{i}", "ReceiptHandle": f"rh{i}", "VisibilityTimeout": rng.randrange(0, 43200)} for i in range(rng.randrange(1, 11))]}
    if action == "SendMessageBatch":
        return {"QueueUrl": q, "Entries": [{"Id": f"m{i}", "MessageBody": text()} for i in range(rng.randrange(1, 11))]}
    if action == "SendMessage":
        return {"QueueUrl": q, "MessageBody": text()}
    if action == "CreateQueue":
        return {"QueueName": f"queue-{rng.randrange(1000)}", "Attributes": {"VisibilityTimeout": str(rng.randrange(0, 100))}}
    if action == "PurgeQueue":
        return {"QueueUrl": q}
    if action == "ListQueues":
        return {}
    raise ValueError(action)


ACTIONS = ["GetQueueUrl", "GetQueueAttributes", "ReceiveMessage", "DeleteMessageBatch", "ChangeMessageVisibilityBatch",
           "SendMessageBatch", "SendMessage", "CreateQueue", "PurgeQueue", "ListQueues"]


class RecordingSigV4Auth(botocore.auth.SigV4Auth):
    def canonical_request(self, request):
        self.recorded_creq = super().canonical_request(request)
        return self.recorded_creq

    def string_to_sign(self, request, canonical_request):
        self.recorded_sts = super().string_to_sign(request, canonical_request)
        return self.recorded_sts


def main():
    model = botocore.session.get_session().get_service_model("sqs")
    assert model.protocol == "json", model.protocol
    serializer = botocore.serialize.create_serializer("json", include_validation=True)
    cases = []
    for n in range(COUNT):
        region = rng.choice(REGIONS)
        endpoint = endpoint_for(region)
        action = ACTIONS[n % len(ACTIONS)]
        request_dict = serializer.serialize_to_request(params_for(action, endpoint), model.operation_model(action))
        if n % 3 == 0:
            # botocore escapes non-ASCII as \uXXXX; our client sends raw UTF-8, so sign that too.
            request_dict["body"] = json.dumps(json.loads(request_dict["body"]), ensure_ascii=False).encode("utf-8")
        botocore.awsrequest.prepare_request_dict(request_dict, endpoint_url=endpoint)
        request = botocore.awsrequest.create_request_object(request_dict)
        headers_before = [[k, v] for k, v in request.headers.items()]
        token = None
        if rng.random() < 0.35:
            token = "FwoGZXIvYXdzE" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(120)) + "=="
        access_key = "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
        secret = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(40))
        when = rng.choice(TIMESTAMPS)
        auth = RecordingSigV4Auth(botocore.credentials.Credentials(access_key, secret, token), "sqs", region)
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            auth.add_auth(request)
        body = request.body
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        cases.append({
            "name": f"{n:03d}-{action}-{region}",
            "method": request.method, "url": request.url, "headers": headers_before, "body": body or "",
            "region": region, "accessKeyId": access_key, "secretAccessKey": secret, "sessionToken": token,
            "timestamp": int(when.replace(tzinfo=datetime.timezone.utc).timestamp()),
            "creq": auth.recorded_creq, "sts": auth.recorded_sts, "authz": request.headers["Authorization"],
        })
    json.dump({"botocore": botocore.__version__, "cases": cases}, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
