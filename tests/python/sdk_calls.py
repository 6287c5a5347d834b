"""Runs calls of the official Python server SDK (PyPI `pusher`) against a test server.

Reads JSON from stdin: {"app": {"id", "key", "secret"}, "port": N, "calls": [{"call": name,
"args": [...], "kwargs": {...}}]} and prints one JSON list: per call {"ok": result} or
{"error": exception class, "message": text}. The SDK signs every request itself, so the
tests check a second, independent implementation of the REST signing against ours.
"""
import json
import sys

import pusher


def main():
    spec = json.load(sys.stdin)
    app = spec["app"]
    client = pusher.Pusher(
        app_id=app["id"],
        key=app["key"],
        secret=app["secret"],
        host="127.0.0.1",
        port=spec["port"],
        ssl=False,
        timeout=10,
    )
    results = []
    for call in spec["calls"]:
        try:
            method = getattr(client, call["call"])
            results.append({"ok": method(*call.get("args", []), **call.get("kwargs", {}))})
        except Exception as e:  # report every failure to the test, which asserts on it
            results.append({"error": type(e).__name__, "message": str(e)})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
