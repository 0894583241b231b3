#!/usr/bin/env python3
"""Fills a queue fast: SendMessageBatch (10 per request) from several
concurrent producers, each on its own keep-alive connection.

    seed.py --endpoint URL --queue NAME --count N [--producers 6] [--salt S]

Creates the queue if needed (it must be empty: the count is checked after).
Prints one JSON line: {"queue_url", "sent", "seconds", "msgs_per_s"}.
"""
import argparse
import json
import sys
import threading
import time

from messages import body
from sqsraw import RawSQS


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--queue", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--producers", type=int, default=6)
    p.add_argument("--salt", default="")
    args = p.parse_args()

    admin = RawSQS(args.endpoint)
    url = admin.create_queue(args.queue, {"VisibilityTimeout": "120"})
    batches = [(s, min(s + 10, args.count)) for s in range(0, args.count, 10)]
    lock = threading.Lock()
    sent = [0]
    errors = []

    def produce(worker: int):
        sqs = RawSQS(args.endpoint)
        try:
            for start, end in batches[worker::args.producers]:
                n = sqs.send_batch(url, [body(i, args.salt) for i in range(start, end)])
                with lock:
                    sent[0] += n
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            sqs.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=produce, args=(w,)) for w in range(args.producers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - began
    if errors:
        print(f"seed: {errors[0]}", file=sys.stderr)
        return 1
    visible, invisible = admin.depth(url)
    if visible + invisible != args.count:
        print(f"seed: queue holds {visible}+{invisible} messages, expected {args.count}", file=sys.stderr)
        return 1
    print(json.dumps({"queue_url": url, "sent": sent[0], "seconds": round(seconds, 3),
                      "msgs_per_s": round(sent[0] / seconds, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
