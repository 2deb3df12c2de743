#!/usr/bin/env bash
# Contract hygiene for kessai.v1: `buf lint` (STANDARD + COMMENTS, proto/buf.yaml)
# and `buf breaking` against the last released contract.
#
#   bash proto/check.sh            # from anywhere in the repository
#
# The baseline, proto/released/kessai-v1.binpb, is a buf image (a binary
# FileDescriptorSet, imports included, source info left out) of the contract
# as kessai 0.1.0 shipped it. Callers in every language build their stubs from
# the released contract, so a change this check refuses (a field renamed,
# renumbered or retyped, an RPC or enum value removed, ...) breaks them: add a
# new field, value or RPC instead, or plan a kessai.v2 package.
#
# Releasing: after tagging a release whose contract changed, replace the
# baseline with that contract and commit it with the release:
#
#   buf build proto --exclude-source-info -o proto/released/kessai-v1.binpb
#
# (run from the repository root, at the release tag). From then on changes are
# checked against the new release. The FILE rules (proto/buf.yaml) are the
# strictest buf has: they also protect generated code (Go packages, Python
# modules), not only the wire format.
set -euo pipefail
cd "$(dirname "$0")/.."

BASELINE=proto/released/kessai-v1.binpb

if ! command -v buf >/dev/null 2>&1; then
  python3 -m pip install --quiet buf-bin
fi

echo "buf lint"
(cd proto && buf lint)

echo "buf breaking against $BASELINE"
buf breaking proto --against "$BASELINE"

echo "contract OK"
