#!/bin/sh
# Let every uid read (and run what is executable) under DIR, for `docker run --user UID:GID`. Only files that lack
# the bits are touched: a chmod, even a no-op one, copies the file into the new image layer (the venv is ~2 GB).
set -eu
find "$1" \( ! -perm -o=r -o -perm -u=x ! -perm -o=x \) -exec chmod a+rX {} +
