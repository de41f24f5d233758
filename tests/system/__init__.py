"""The whole service under faults and attack: outages, Sentinel, hostile input, trust, docs and compose."""
