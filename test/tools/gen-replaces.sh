#!/usr/bin/env bash
# Prints the replace block test/tools/go.mod needs for k8s.io/kubernetes $1
# (for example v1.36.3): every staging module pinned to the matching v0.X.Y.
set -euo pipefail
version=${1:?usage: gen-replaces.sh v1.X.Y}
staging=v0.${version#v1.}
dir=$(go mod download -json "k8s.io/kubernetes@${version}" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
echo "replace ("
grep -E '=> \./staging/' "$dir/go.mod" | awk -v v="$staging" '{print "\t" $1 " => " $1 " " v}'
echo ")"
