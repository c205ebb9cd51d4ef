#!/usr/bin/env bash
# run-tests.sh BUILD_DIR -- run every meson test and print the closing line
# "N passed, N failed" (CI reads it). Exit status: 0 only if nothing failed.
set -u
build=${1:?usage: run-tests.sh BUILD_DIR}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
meson test -C "$build" --print-errorlogs --num-processes 2 "${@:2}"
rc=$?
/usr/bin/python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
try:
    lines = open(sys.argv[1]).read().splitlines()
except OSError:
    lines = []
for line in lines:
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif r == "SKIP":
        skipped += 1
    else:
        failed += 1
if failed == 0 and passed == 0:
    failed = 1  # a run that tested nothing is a failure
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed else 0)
PY
prc=$?
[ $rc -eq 0 ] && [ $prc -eq 0 ]
