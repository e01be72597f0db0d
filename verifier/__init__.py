"""The pure core of Sehat: codes, national IDs, sealed records, the signed feed, verdicts.

Nothing in this package touches a file, the network, a database or the clock:
bytes and dataclasses go in, results or a named exception from
``verifier.errors`` come out. The time, keys and limits are arguments.
"""
