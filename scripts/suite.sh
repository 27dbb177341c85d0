#!/usr/bin/env bash
# Runs one test suite of `make test` and records how long it took and how many tests ran.
#
#   scripts/suite.sh NAME COMMAND [ARGS...]   run COMMAND, output to the terminal as usual,
#                                             and append a row to build/test-summary.tsv
#   scripts/suite.sh --start                  begin a new summary (make test's first step)
#   scripts/suite.sh --report                 print the table, the total time, and the
#                                             closing 'N passed, N failed' line
#
# Counts come from what the runners print: cargo test's `test result:` lines, and the
# fuzz runner's `fuzz: TARGET ... runs` lines (one "test" per fuzz target).
set -uo pipefail

dir=${BUILD:-build}
summary=$dir/test-summary.tsv
started=$dir/test-summary.start

case "${1:-}" in
--start)
  mkdir -p "$dir"
  : >"$summary"
  date +%s >"$started"
  exit 0
  ;;
--report)
  [ -f "$summary" ] || { echo "suite: no summary (run make test)"; exit 0; }
  total_p=0 total_f=0 total_i=0
  echo
  echo "== make test: per suite"
  printf '   %-22s %8s %8s %8s %9s\n' suite passed failed ignored seconds
  while IFS=$'\t' read -r name p f i secs rc; do
    printf '   %-22s %8s %8s %8s %9s%s\n' "$name" "$p" "$f" "$i" "$secs" \
      "$([ "$rc" = 0 ] || echo "   (exit $rc)")"
    total_p=$((total_p + p)) total_f=$((total_f + f)) total_i=$((total_i + i))
  done <"$summary"
  if [ -f "$started" ]; then
    echo "   total time $(($(date +%s) - $(cat "$started"))) s (including builds)"
  fi
  echo "$total_p passed, $total_f failed, $total_i skipped"
  exit 0
  ;;
esac

name=$1
shift
mkdir -p "$dir"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
t0=$(date +%s)
"$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
secs=$(($(date +%s) - t0))

sum() { awk -v field="$1" '
  /^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ "^" field) { gsub(/[^0-9]/, "", $i); n += $i } }
  END { print n + 0 }' "$log"; }
passed=$(sum passed)
failed=$(sum failed)
ignored=$(sum ignored)
# Fuzz targets: each completed smoke run counts as one passed test, a skipped one as ignored.
fuzz_ok=$(grep -c '^fuzz: .* runs, no crash' "$log")
fuzz_skip=$(grep -c '^fuzz: SKIPPED' "$log")
passed=$((passed + fuzz_ok))
ignored=$((ignored + fuzz_skip))
[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$passed" "$failed" "$ignored" "$secs" "$rc" >>"$summary"
exit "$rc"
