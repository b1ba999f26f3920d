#!/bin/sh
# Runs each test program given, then prints one closing line for the suite.
passed=0 failed=0
for t in "$@"; do
    name=$(basename "$t")
    if "$t" > "$t.log" 2>&1; then
        passed=$((passed + 1)); echo "ok   $name"
    else
        failed=$((failed + 1)); echo "FAIL $name"; cat "$t.log"
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
