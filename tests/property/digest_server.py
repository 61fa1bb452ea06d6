"""Fingerprint pickled batches sent on stdin, one batch per line of hex digests on stdout.

Started once per test by test_seed_and_order_properties.py, under another
PYTHONHASHSEED, so that hundreds of examples cost no interpreter start each.
Protocol: an 8-byte big-endian length, then that many bytes of a pickled list;
the reply is one line of space-separated hex digests.  Length 0 ends it.
"""

import pickle
import sys

from recyclable.fingerprint import fingerprint

source, sink = sys.stdin.buffer, sys.stdout
while True:
    size = int.from_bytes(source.read(8), "big")
    if size == 0:
        break
    batch = pickle.loads(source.read(size))
    sink.write(" ".join(fingerprint(value).hex() for value in batch) + "\n")
    sink.flush()
