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
# Count test cases, not executables: the unit harness prints "N passed,
# N failed", Python's unittest "Ran N tests" and "FAILED (failures=...)".
# An executable that failed without saying how (crash, sanitizer report,
# timeout) counts as one more failure.
import json, re, sys
passed = failed = skipped = 0
try:
    lines = open(sys.argv[1]).read().splitlines()
except OSError:
    lines = []
for line in lines:
    d = json.loads(line)
    ok = d.get("result") in ("OK", "EXPECTEDFAIL")
    out = (d.get("stdout") or "") + (d.get("stderr") or "")
    p = f = s = 0
    m = re.findall(r"^(\d+) passed, (\d+) failed$", out, re.M)
    ran = re.findall(r"^Ran (\d+) tests? in", out, re.M)
    if m:
        p, f = int(m[-1][0]), int(m[-1][1])
    elif ran:
        n = int(ran[-1])
        for key in ("failures", "errors"):
            f += sum(int(x) for x in re.findall(key + r"=(\d+)", out.splitlines()[-1] if out else ""))
        s = sum(int(x) for x in re.findall(r"skipped=(\d+)", out.splitlines()[-1] if out else ""))
        p = n - f - s
    elif d.get("result") == "SKIP":
        s = 1
    else:
        p = 1 if ok else 0
    if not ok and f == 0:
        f = 1
    passed += p
    failed += f
    skipped += s
if failed == 0 and passed == 0:
    failed = 1  # a run that tested nothing is a failure
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed else 0)
PY
prc=$?
[ $rc -eq 0 ] && [ $prc -eq 0 ]
