#!/usr/bin/env python3
"""The SQS ceiling: a consumer pool that only receives (10 per request) and
batch-deletes (10 per request), with loginvault's concurrency (4 receivers,
4 deleters by default), and no database. Stops once --count messages are
deleted, as loginvault does with --max-messages.

    reference_pool.py --endpoint URL --queue NAME --count N [--receivers 4] [--deleters 4]

Prints one JSON line: {"messages", "seconds", "msgs_per_s", "requests", "requests_per_message"}.
"""
import argparse
import json
import queue
import sys
import threading
import time

from sqsraw import RawSQS


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--queue", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--receivers", type=int, default=4)
    p.add_argument("--deleters", type=int, default=4)
    p.add_argument("--wait", type=int, default=2)
    p.add_argument("--attributes", default="",
                   help="comma-separated message system attributes to ask for (loginvault asks for All)")
    args = p.parse_args()

    url = RawSQS(args.endpoint).create_queue(args.queue)
    attributes = [a for a in args.attributes.split(",") if a]
    lock = threading.Lock()
    state = {"reserved": 0, "deleted": 0, "requests": 0}
    handles: queue.Queue = queue.Queue()
    errors = []

    def reserve() -> int:
        with lock:
            n = min(10, args.count - state["reserved"])
            state["reserved"] += max(n, 0)
            return n

    def receiver():
        sqs = RawSQS(args.endpoint)
        try:
            while (wanted := reserve()) > 0:
                got = sqs.receive(url, wanted, args.wait, attributes=attributes)
                with lock:
                    state["reserved"] -= wanted - len(got)
                if not got:
                    break  # empty for a whole long poll: drained before --count
                handles.put([m["ReceiptHandle"] for m in got])
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        finally:
            with lock:
                state["requests"] += sqs.requests
            sqs.close()

    def deleter():
        sqs = RawSQS(args.endpoint)
        try:
            while (chunk := handles.get()) is not None:
                n = sqs.delete_batch(url, chunk)
                with lock:
                    state["deleted"] += n
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        finally:
            with lock:
                state["requests"] += sqs.requests
            sqs.close()

    began = time.perf_counter()
    rs = [threading.Thread(target=receiver) for _ in range(args.receivers)]
    ds = [threading.Thread(target=deleter) for _ in range(args.deleters)]
    for t in rs + ds:
        t.start()
    for t in rs:
        t.join()
    for _ in ds:
        handles.put(None)
    for t in ds:
        t.join()
    seconds = time.perf_counter() - began
    if errors:
        print(f"reference pool: {errors[0]}", file=sys.stderr)
        return 1
    n = state["deleted"]
    print(json.dumps({"messages": n, "seconds": round(seconds, 3), "msgs_per_s": round(n / seconds, 1),
                      "requests": state["requests"], "requests_per_message": round(state["requests"] / max(n, 1), 4)}))
    return 0 if n == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
