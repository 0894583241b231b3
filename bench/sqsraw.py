"""A deliberately thin SQS client for the benchmark's own tools (seeder,
reference consumer pool): the AWS JSON 1.0 protocol over one keep-alive
http.client connection per thread, no signing (LocalStack checks none), no
retries beyond reconnecting once. It costs the client side almost no CPU, so
on a 2-core machine the reference pool measures the server, not Python.

Not for real AWS: requests carry a fixed, unsigned Authorization header that
only tells LocalStack the region and the (test) access key.
"""
import http.client
import json
import time
import urllib.parse

AUTH = ("AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/sqs/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=0")


class SQSError(Exception):
    pass


class RawSQS:
    """One connection; use one instance per thread."""

    def __init__(self, endpoint: str, timeout: float = 60.0):
        url = urllib.parse.urlsplit(endpoint)
        self.host, self.port = url.hostname, url.port or 80
        self.timeout = timeout
        self.conn = None
        self.requests = 0

    def _connect(self):
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def call(self, action: str, payload: dict) -> dict:
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"AmazonSQS.{action}",
            "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
            "Authorization": AUTH,
        }
        for attempt in (1, 2):
            if self.conn is None:
                self._connect()
            try:
                self.requests += 1
                self.conn.request("POST", "/", body, headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (ConnectionError, http.client.HTTPException, TimeoutError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        if response.status != 200:
            raise SQSError(f"{action}: HTTP {response.status}: {data[:300]!r}")
        return json.loads(data) if data else {}

    def create_queue(self, name: str, attributes: dict | None = None) -> str:
        payload = {"QueueName": name}
        if attributes:
            payload["Attributes"] = attributes
        return self.call("CreateQueue", payload)["QueueUrl"]

    def purge(self, url: str):
        self.call("PurgeQueue", {"QueueUrl": url})

    def depth(self, url: str) -> tuple[int, int]:
        attrs = self.call("GetQueueAttributes", {
            "QueueUrl": url,
            "AttributeNames": ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        })["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def send_batch(self, url: str, bodies: list[str]) -> int:
        entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)]
        result = self.call("SendMessageBatch", {"QueueUrl": url, "Entries": entries})
        if result.get("Failed"):
            raise SQSError(f"SendMessageBatch failed: {result['Failed'][:3]}")
        return len(result.get("Successful", []))

    def receive(self, url: str, max_messages: int = 10, wait: int = 1, visibility: int = 120,
                attributes: list[str] | None = None) -> list[dict]:
        payload = {"QueueUrl": url, "MaxNumberOfMessages": max_messages,
                   "WaitTimeSeconds": wait, "VisibilityTimeout": visibility}
        if attributes:
            payload["MessageSystemAttributeNames"] = attributes
            payload["AttributeNames"] = attributes
        return self.call("ReceiveMessage", payload).get("Messages", [])

    def delete_batch(self, url: str, handles: list[str]) -> int:
        entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)]
        result = self.call("DeleteMessageBatch", {"QueueUrl": url, "Entries": entries})
        return len(result.get("Successful", []))

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None
