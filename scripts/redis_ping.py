"""Exit 0 if a Redis server answers PING at the URL (optionally waiting up to --wait seconds)."""

from __future__ import annotations

import argparse
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--wait", type=float, default=0.0)
    args = parser.parse_args()
    try:
        import redis
    except ImportError:
        return 1
    deadline = time.monotonic() + args.wait
    while True:
        try:
            client = redis.Redis.from_url(args.url, socket_timeout=1, socket_connect_timeout=1)
            if client.ping():
                return 0
        except redis.RedisError:
            pass
        if time.monotonic() >= deadline:
            return 1
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
