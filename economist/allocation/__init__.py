"""Allocation (showback): cost per group with untagged and shared cost split so the parts add up exactly."""
