#!/usr/bin/env bash
# Renames the keys of a summary.json written before issue 18 to the names it has since (one name per counter):
#   mechanisms.balloon.pages_reclaimed -> pages_given_back   (the guests' balloon drivers gave these pages back)
#   mechanisms.balloon.pages_returned  -> pages_taken_back   (and took these back)
# Usage: tools/migrate/summary-keys-18.sh OLD/summary.json > NEW/summary.json
set -euo pipefail
sed -e 's/^\(      "\)pages_reclaimed":/\1pages_given_back":/' -e 's/^\(      "\)pages_returned":/\1pages_taken_back":/' "$1"
