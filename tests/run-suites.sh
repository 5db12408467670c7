#!/usr/bin/env bash
# The whole default suite as three independent pytest runs side by side: the e2e stacks and the
# browser journeys (each mostly waiting on brokers, databases and Chromium, one core at most)
# beside everything else. Each run keeps its own log; all are printed whole at the end with their
# slowest tests, and the exit status is the worst of them.
# Extra arguments after the pytest path are passed to every run (e.g. -x, -k expr).
set -u
pytest=${1:?usage: run-suites.sh PYTEST [ARGS...]}; shift
logs=${WSLI_TEST_LOGS:-var/test-logs}
mkdir -p "$logs"
started=$(date +%s)

parts=(core e2e web)
declare -A paths=(
  [core]="tests/unit tests/service tests/integration tests/faults"
  [e2e]="tests/e2e"
  [web]="tests/web"
)
declare -A pids status
for part in "${parts[@]}"; do
  # shellcheck disable=SC2086  # the paths are words on purpose
  "$pytest" ${paths[$part]} --durations=25 "$@" >"$logs/$part.log" 2>&1 &
  pids[$part]=$!
done
for part in "${parts[@]}"; do
  wait "${pids[$part]}"
  status[$part]=$?
done

summary=""
for part in "${parts[@]}"; do
  printf '\n==== %s (%s) ====\n' "$part" "${paths[$part]}"
  cat "$logs/$part.log"
  summary+="$part exit ${status[$part]}; "
done
printf '\n==== all runs took %d s; %s====\n' "$(( $(date +%s) - started ))" "$summary"
# pytest's 5 (no tests collected) must not hide behind a 0, nor a 1 behind a 5
worst=0
for part in "${parts[@]}"; do
  s=${status[$part]}
  if [ "$s" -ne 0 ] && [ "$s" -ne 5 ]; then exit "$s"; fi
  [ "$s" -eq 5 ] && worst=5
done
exit "$worst"
