#!/usr/bin/env bash
# The whole default suite as two independent pytest runs side by side: the stacks (e2e and the
# browser, mostly waiting on brokers, databases and Chromium) beside everything else. Each run
# keeps its own log; both are printed whole at the end, and the exit status is the worse of the two.
# Extra arguments after the pytest path are passed to both runs (e.g. -x, -k expr).
set -u
pytest=${1:?usage: run-suites.sh PYTEST [ARGS...]}; shift
logs=${WSLI_TEST_LOGS:-var/test-logs}
mkdir -p "$logs"
started=$(date +%s)

"$pytest" tests/e2e tests/web --durations=25 "$@" >"$logs/stacks.log" 2>&1 &
stacks=$!
"$pytest" tests/unit tests/service tests/integration tests/faults --durations=25 "$@" >"$logs/core.log" 2>&1
core=$?
wait "$stacks"
stacks=$?

for part in core stacks; do
  printf '\n==== %s (tests/%s) ====\n' "$part" "$([ $part = core ] && echo '{unit,service,integration,faults}' || echo '{e2e,web}')"
  cat "$logs/$part.log"
done
printf '\n==== both runs took %d s; core exit %d, stacks exit %d ====\n' "$(( $(date +%s) - started ))" "$core" "$stacks"
# pytest's 5 (no tests collected) must not hide behind a 0, nor a 1 behind a 5
if [ "$core" -ne 0 ] || [ "$stacks" -ne 0 ]; then
  [ "$core" -ne 0 ] && [ "$core" -ne 5 ] && exit "$core"
  [ "$stacks" -ne 0 ] && [ "$stacks" -ne 5 ] && exit "$stacks"
  exit 5
fi
exit 0
