#!/usr/bin/env bash
# Runs cargo-fuzz targets of the fuzz package (fuzz/, every target of every pure crate)
# for a fixed time each, after one build of all of them.
#
#   scripts/fuzz.sh DIR SECONDS TARGET...
#
# The corpus stays in DIR/corpus/TARGET (not committed). Prints one line per target,
# `fuzz: TARGET N runs, no crash`, and fails on the first crash. Fuzzing needs the
# nightly toolchain (cargo-fuzz passes -Z flags); where none is installed and none can
# be fetched, every target is reported `fuzz: SKIPPED` and the run does not fail, so the
# rest of make test still runs.
set -uo pipefail
dir=$1 secs=$2
shift 2

if ! cargo +nightly --version >/dev/null 2>&1; then
  for t in "$@"; do
    echo "fuzz: SKIPPED $t: no nightly toolchain (rustup toolchain install nightly)"
  done
  exit 0
fi

cd "$dir" || exit 1
cargo +nightly fuzz build -O || exit 1
for t in "$@"; do
  mkdir -p "corpus/$t"
  out=$(mktemp)
  cargo +nightly fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -print_final_stats=1 >"$out" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out")
  if [ "$rc" -ne 0 ]; then
    grep -E '^(==|SUMMARY|thread|panicked|Failing input|Test unit)' "$out" | head -40
    echo "fuzz: $t CRASHED (exit $rc) after ${runs:-?} runs; reproducer under $dir/artifacts/$t"
    rm -f "$out"
    exit 1
  fi
  echo "fuzz: $t ${runs:-0} runs, no crash (${secs} s)"
  rm -f "$out"
done
