"""Print the fingerprint of every value in a pickled list (run in a fresh interpreter)."""

import pickle
import sys

from recyclable.fingerprint import fingerprint

with open(sys.argv[1], "rb") as handle:
    batch = pickle.load(handle)
for value in batch:
    print(fingerprint(value).hex())
