"""The protocol itself, pure: deltas, operations, the composite key, conflicts, the
reduction of a frame and its settlement. No I/O, no git, no clock and no randomness:
what the shells read (base documents, the keyring, arrivals, the time) is passed in,
and what they write comes back as values. Its imports are held to the standard
library's pure modules and ``cryptography`` by the build (``make lint``).
"""
