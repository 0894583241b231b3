"""Synthetic login events shaped like examples/login-queue-sample.json, one
per index, deterministic (the same index gives the same body), every user_id
distinct. About 170 bytes of JSON each."""
import json
import random
import uuid

VERSIONS = ["0.2.6", "2.3.0", "2.2.1", "0.96", "5.0.1", "3.7"]
DEVICES = ["android", "ios"]
LOCALES = ["RU", "PH", "US", "DE", "FR", "BR", "IN", None]


def body(index: int, salt: str = "") -> str:
    rnd = random.Random(f"{salt}:{index}")
    return json.dumps({
        "user_id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
        "app_version": rnd.choice(VERSIONS),
        "device_type": rnd.choice(DEVICES),
        "ip": ".".join(str(rnd.randrange(1, 255)) for _ in range(4)),
        "locale": rnd.choice(LOCALES),
        "device_id": f"{rnd.randrange(1000):03d}-{rnd.randrange(100):02d}-{rnd.randrange(10000):04d}",
    })
