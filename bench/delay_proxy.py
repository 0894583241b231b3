#!/usr/bin/env python3
"""A TCP proxy on loopback that delays every byte by --delay-ms in EACH
direction (default 10 ms each way = 20 ms added to every request/response
round trip), without limiting bandwidth: each chunk read is forwarded, in
order, once it is --delay-ms old. Models the distance to a real SQS endpoint.

    delay_proxy.py --target 127.0.0.1:4566 [--delay-ms 10] [--port 0]

Prints the listening port on its first stdout line, then runs until killed.
"""
import argparse
import asyncio
import sys


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float):
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue = asyncio.Queue()

    async def deliver():
        while True:
            due, data = await chunks.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                break
            writer.write(data)
            await writer.drain()
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass

    sender = asyncio.create_task(deliver())
    try:
        while data := await reader.read(65536):
            chunks.put_nowait((loop.time() + delay, data))
    except (ConnectionError, OSError):
        pass
    chunks.put_nowait((loop.time() + delay, None))
    try:
        await sender
    except (ConnectionError, OSError):
        pass


async def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--target", required=True, help="host:port")
    p.add_argument("--delay-ms", type=float, default=10.0, help="added in each direction")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    host, port = args.target.rsplit(":", 1)
    delay = args.delay_ms / 1000

    async def handle(client_r, client_w):
        try:
            server_r, server_w = await asyncio.open_connection(host, int(port))
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pump(client_r, server_w, delay), pump(server_r, client_w, delay))
        for w in (client_w, server_w):
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", args.port)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        sys.exit(0)
