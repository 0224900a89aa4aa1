"""The README.md of an export bundle: what an auditor needs without Shipyard."""

README = """\
# Shipyard audit log export

This bundle holds events of a Shipyard audit log and everything needed to check them with
nothing but Python's standard library (`hmac`, `hashlib`, `json`) and the audit key.

- `events.jsonl`: one event per line, in chain order (`seq` ascending);
- `manifest.json`: what was exported (`complete`: the whole chain, or only one entity's
  events), how many events, the last one's `seq` and `mac`, and the result of Shipyard's own
  check of the whole chain when exporting (`verification`);
- `checkpoint.json`: the chain's head and length as checkpointed outside the database (when
  there was one);
- `verify.py`: a standalone check of this bundle (standard library only).

## Each event

`seq` (1, 2, 3... with no gap), `time` (milliseconds since 1970-01-01 UTC), `actor` (who),
`action` (e.g. `model.create`, `version.approve`, `alias.set`), `entity_type` and `entity_id`
(what), `before` and `after` (the state as JSON *text*: `json.loads` it to read it; `null`
when there is none), `reason` (why, if given), `prev_mac` (the MAC of event `seq - 1`) and
`mac`.

## The chain

    canonical(event) = json.dumps({every field except mac and prev_mac},
                                  sort_keys=True, separators=(",", ":"))    # ASCII-escaped
    mac(event)       = HMAC-SHA256(key, prev_mac + canonical(event)), in lowercase hex
    prev_mac of event 1 = "0" * 64

Both strings are ASCII, concatenated and encoded before hashing. The key is the chain's
secret (32 random bytes, usually written as 64 hex digits): a key given in hex is decoded to
bytes, any other text is used as its bytes.

## Checking it

    python3 verify.py --key-file audit.key        # or: SHIPYARD_AUDIT_KEY=<hex> python3 verify.py

prints `{"ok": true, ...}` and exits 0, or names the first event that is missing or does not
match its MAC and exits 1. For a complete export it also checks that `seq` runs 1..n with no
gap and that each event links to the one before it. Compare the last event's `seq` and `mac`
with `checkpoint.json` (or a checkpoint you keep yourself): a shorter chain means events were
cut off the end.

An export of one entity holds only that entity's events: each is authenticated on its own
(its MAC covers its fields and `prev_mac`), but events missing from such a subset cannot be
detected from the subset; `manifest.json` records whether the whole chain verified when it was
exported. Only someone holding the key can make a MAC that verifies, so keep the key away from
whoever could edit the database.
"""
