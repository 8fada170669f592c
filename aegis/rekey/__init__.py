"""Rekey: re-encrypt stored archives to the current encryption key (streamed, verified, never in place)."""
