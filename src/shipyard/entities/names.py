"""Readable names for runs that were not given one, like ``brave-otter-417``."""

from __future__ import annotations

import random

_ADJECTIVES = (
    "agile", "bold", "brave", "bright", "calm", "clever", "crisp", "daring", "eager", "fair",
    "gentle", "glad", "keen", "kind", "lively", "lucid", "merry", "nimble", "polite", "proud",
    "quick", "quiet", "sharp", "shy", "steady", "sunny", "swift", "tidy", "vivid", "witty",
)
_NOUNS = (
    "albatross", "anchor", "beacon", "buoy", "compass", "cutter", "dolphin", "ferry", "gull",
    "harbor", "heron", "hull", "keel", "lighthouse", "mast", "orca", "otter", "pelican", "pier",
    "puffin", "rudder", "sail", "schooner", "seal", "skiff", "sloop", "tern", "tide", "whale",
    "yacht",
)


def random_run_name() -> str:
    rng = random.SystemRandom()
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{rng.randint(100, 999)}"
