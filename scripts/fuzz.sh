#!/usr/bin/env bash
# Fuzz every target in fuzz/ (see fuzz/Cargo.toml) for FUZZ_SECONDS seconds each
# (default 20), on stable Rust without a sanitizer, each on a temporary copy of
# its committed seed corpus fuzz/corpus/<target>/ (libFuzzer writes new inputs
# into the corpus folder it is given, so the committed one is never handed to it).
# Prints one line per target; exits non-zero if any target crashes (a panic or
# a failed invariant, a hang over 10 s on one input, or running out of memory).
# A crash's input is printed as hex and kept in fuzz/artifacts/<target>/
# (git-ignored); reproduce it with the `cargo fuzz run ...` line printed.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
fuzz_dir=$PWD
seconds="${FUZZ_SECONDS:-20}"
# One target folder for all targets and runs, so rebuilds are incremental.
export CARGO_TARGET_DIR="$fuzz_dir/target"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Build all targets at once (the runs below then find them up to date). Same
# flags as the runs: -s none, i.e. no sanitizer, which works on stable.
start=$SECONDS
if ! cargo fuzz build --fuzz-dir "$fuzz_dir" -s none >"$work/build.log" 2>&1; then
  tail -n 40 "$work/build.log"
  echo "fuzz: build FAILED"
  exit 1
fi
echo "fuzz: built in $((SECONDS - start)) s"

mapfile -t targets < <(cargo fuzz list --fuzz-dir "$fuzz_dir")
failed=()
for t in "${targets[@]}"; do
  dir="$work/$t"
  mkdir -p "$dir"
  if [ -d "$fuzz_dir/corpus/$t" ]; then
    cp -R "$fuzz_dir/corpus/$t" "$dir/corpus"
  else
    mkdir "$dir/corpus"
  fi
  seeds=$(find "$dir/corpus" -type f | wc -l)
  log="$dir/log"
  start=$SECONDS
  if cargo fuzz run --fuzz-dir "$fuzz_dir" -s none "$t" "$dir/corpus" -- \
    -max_total_time="$seconds" -timeout=10 -max_len=5000 -print_final_stats=1 \
    >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$( (grep -o 'DONE *cov: [0-9]*' "$log" || true) | grep -o '[0-9]*$' | tail -n 1 || true)
    inputs=$(find "$dir/corpus" -type f | wc -l)
    printf 'fuzz: %-16s ok     %9s runs in %3d s, coverage %5s, corpus %d -> %d inputs\n' \
      "$t" "${runs:-?}" "$((SECONDS - start))" "${cov:-?}" "$seeds" "$inputs"
  else
    rc=$?
    failed+=("$t")
    printf 'fuzz: %-16s FAILED (exit %d after %d s)\n' "$t" "$rc" "$((SECONDS - start))"
    # The panic message (or libFuzzer's report) and how to reproduce.
    grep -m 1 -A 6 -E 'panicked at|ERROR: libFuzzer|==ERROR' "$log" | sed 's/^/    /' || true
    grep -E '^(Reproduce|  *cargo fuzz run)' "$log" | head -n 2 | sed 's/^/    /' || true
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    if [ -n "$artifact" ] && [ -f "$artifact" ]; then
      size=$(wc -c <"$artifact")
      echo "    input ($size bytes, hex, first 1024): $(head -c 1024 "$artifact" | od -An -v -tx1 | tr -d ' \n')"
      echo "    saved as $artifact"
    else
      tail -n 30 "$log" | sed 's/^/    /'
    fi
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} of ${#targets[@]} targets FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ok (${seconds} s each)"
