#!/usr/bin/env bash
# `canary analyze` for CI systems: run by the GitHub composite action (action.yml) and the GitLab CI template
# (scripts/gitlab-ci-canary.yml); installed in the Docker image as `canary-ci`.
#
# Inputs (environment):
#   CANARY_CONFIG          the canary config (required)
#   CANARY_DATA            a recorded data file (CSV or Parquet), or
#   CANARY_PROMETHEUS_URL  a Prometheus to query, with CANARY_START and CANARY_END (e.g. now-30m, now)
#   CANARY_ARGS            more arguments for `canary analyze` (split on spaces, e.g. "--var app=shop")
#   CANARY_OUT             directory for result.json, summary.md and junit.xml (default: canary-out)
# Outputs: verdict, score and exit-code, appended to $GITHUB_OUTPUT when set and written to
# $CANARY_OUT/canary.env (a dotenv report for GitLab); summary.md appended to $GITHUB_STEP_SUMMARY when set.
# The score of a run that reached no verdict (nodata, error) is given as 0: it must never read as a pass.
# Exit status: canary's (0 pass, 1 fail, 2 usage or config error, 3 marginal, 4 nodata or error).
set -uo pipefail

if [ -z "${CANARY_CONFIG:-}" ]; then
  echo "canary-ci: error: set CANARY_CONFIG (the canary config file)" >&2
  exit 2
fi
out="${CANARY_OUT:-canary-out}"
mkdir -p "$out" || exit 2
rm -f "$out/result.json" "$out/summary.md" "$out/junit.xml" "$out/canary.env"

args=(analyze "$CANARY_CONFIG" --json "$out/result.json" --json-no-data --summary-md "$out/summary.md"
      --junit "$out/junit.xml")
if [ -n "${CANARY_DATA:-}" ]; then
  args+=(--data "$CANARY_DATA")
elif [ -n "${CANARY_PROMETHEUS_URL:-}" ]; then
  args+=(--prometheus-url "$CANARY_PROMETHEUS_URL")
fi
if [ -n "${CANARY_START:-}" ]; then args+=(--start "$CANARY_START"); fi
if [ -n "${CANARY_END:-}" ]; then args+=(--end "$CANARY_END"); fi
read -r -a extra <<< "${CANARY_ARGS:-}"
args+=("${extra[@]}")

"${CANARY_BIN:-canary}" "${args[@]}"
code=$?

verdict=error
score=0
if [ -s "$out/result.json" ]; then
  read -r verdict score < <(python3 - "$out/result.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
verdict = doc.get("verdict", "error")
score = doc.get("score") if verdict in ("pass", "marginal", "fail") else 0
print(verdict, 0 if not isinstance(score, (int, float)) else score)
PY
)
fi

printf 'verdict=%s\nscore=%s\nexit-code=%s\n' "$verdict" "$score" "$code" > "$out/outputs.txt"
printf 'CANARY_VERDICT=%s\nCANARY_SCORE=%s\nCANARY_EXIT_CODE=%s\n' "$verdict" "$score" "$code" > "$out/canary.env"
if [ -n "${GITHUB_OUTPUT:-}" ]; then cat "$out/outputs.txt" >> "$GITHUB_OUTPUT"; fi
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  if [ -s "$out/summary.md" ]; then
    cat "$out/summary.md" >> "$GITHUB_STEP_SUMMARY"
  else
    printf '### canary analysis: no verdict (exit %s)\n\nSee the job log for the error.\n' "$code" >> "$GITHUB_STEP_SUMMARY"
  fi
fi
echo "canary-ci: verdict $verdict, score $score, exit $code"
exit "$code"
