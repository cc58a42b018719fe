"""The tamper-evident audit log: canonical entries, an RFC 9162 Merkle tree,
signed tree heads, receipts and offline verification. Pure: no I/O, no database.
"""

#: The audience of an entry every party may read (agreed geography, keys, the minima).
EVERYONE = "*"
