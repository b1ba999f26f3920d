#!/bin/sh
# Fails when a library exports a name without the nmt_ prefix: the global
# symbols a static library defines (nm -g) or a shared library exports
# (nm -D). Usage: tests/check_symbols.sh LIB...
status=0
for lib in "$@"; do
    case "$lib" in
        *.so*) symbols=$(nm -D --defined-only "$lib") ;;
        *) symbols=$(nm -g --defined-only "$lib") ;;
    esac || { echo "check_symbols: $lib: nm failed"; exit 1; }
    names=$(printf '%s\n' "$symbols" | awk 'NF == 3 { print $3 }')
    count=$(printf '%s\n' "$names" | grep -c '^nmt_')
    others=$(printf '%s\n' "$names" | grep -v '^nmt_' | grep -v '^$')
    if [ -n "$others" ]; then
        echo "FAIL check_symbols: $lib exports names without the nmt_ prefix:" $others
        status=1
    elif [ "$count" -lt 100 ]; then
        echo "FAIL check_symbols: $lib exports only $count nmt_ names (is it the library?)"
        status=1
    else
        echo "ok   check_symbols: $lib exports $count names, all nmt_"
    fi
done
exit $status
