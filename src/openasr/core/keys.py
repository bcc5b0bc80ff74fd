"""API-key identities: what may be stored and shown instead of a key.

Lives in L0 so that stores (jobs/) can bind records to a key's owner without importing the server.
"""

from __future__ import annotations

import hashlib


def key_id(api_key: str | None) -> str:
    """A short stable id for a key, safe to store and show (never the key itself)."""
    if not api_key:
        return "anonymous"
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]
