"""Verify a Shipyard audit export with nothing but the Python standard library.

Copied into every export bundle as ``verify.py`` (see its README.md). Usage, in the unzipped
folder:  python3 verify.py --key-file audit.key   (or the key in SHIPYARD_AUDIT_KEY)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def read_key(argv: list[str]) -> bytes:
    use_file = argv[1:2] == ["--key-file"]
    raw = Path(argv[2]).read_bytes() if use_file else os.environ["SHIPYARD_AUDIT_KEY"].encode()
    text = raw.strip()  # hex is decoded; anything else is the key as it is
    return bytes.fromhex(text.decode()) if re.fullmatch(rb"(?:[0-9a-fA-F]{2})+", text) else raw


def check(key: bytes, manifest: dict[str, object]) -> tuple[int | None, str]:
    seq, mac, count = 0, "0" * 64, 0  # the chain starts after 64 zeros
    with (HERE / "events.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            event = json.loads(line)
            if manifest["complete"] and event["seq"] != seq + 1:
                return seq + 1, f"event {seq + 1} is missing"
            if event["prev_mac"] is None:
                return event["seq"] - 1, f"event {event['seq'] - 1} is missing"
            body = {k: v for k, v in event.items() if k not in ("mac", "prev_mac")}
            text = json.dumps(body, sort_keys=True, separators=(",", ":"))
            expected = hmac.new(key, (event["prev_mac"] + text).encode("ascii"), hashlib.sha256)
            if expected.hexdigest() != event["mac"] or (
                    manifest["complete"] and event["prev_mac"] != mac):
                return event["seq"], f"event {event['seq']} does not match its MAC"
            seq, mac, count = event["seq"], event["mac"], count + 1
    if count != manifest["events"] or (manifest["complete"] and mac != manifest["head_mac"]):
        return seq + 1, f"{count} events, but the manifest lists {manifest['events']}"
    return None, f"{count} events verified, the last is {seq} with MAC {mac}"


if __name__ == "__main__":
    bad, message = check(read_key(sys.argv), json.loads((HERE / "manifest.json").read_text()))
    print(json.dumps({"ok": bad is None, "first_bad_seq": bad, "message": message}))
    sys.exit(0 if bad is None else 1)
