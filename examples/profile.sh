#!/usr/bin/env bash
# Profile the shop service's hot path into shop.mem.prof, for `goescape fix --profile shop.mem.prof`.
# Every allocation is sampled (-memprofilerate 1), so even small sites show up in the ranking.
set -euo pipefail
cd "$(dirname "$0")"
go test -run '^$' -bench Handler -benchmem -memprofile shop.mem.prof -memprofilerate 1 ./shop
echo "wrote $(pwd)/shop.mem.prof"
