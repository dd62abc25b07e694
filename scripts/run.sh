#!/usr/bin/env bash
# `make run`: bring the knowledge base up to date with what is available, then start the Slack app when
# Slack tokens are configured (environment or .env), the console otherwise.
# Sources: MDBOT_KNOWLEDGE (space-separated paths) or, by default, the 2024 LAMMPS manual (reStructuredText)
# beside the repository and the lab's lab-docs/ folder when they exist (docs/ is mdbot's own documentation,
# not lab knowledge); the installed LAMMPS examples and potentials always.
# The ingest runs in the background: the bot starts as soon as its lexical index is published (seconds), and
# answers from it while the vectors are computed (the whole manual on 2 cores: 80–180 s where the CPU has
# native bfloat16, about 7 minutes where it does not; the first time only: ingest is incremental, and an
# interrupted one resumes). Its progress goes to the log below.
set -euo pipefail
BIN=.venv/bin
sources=()
for path in ${MDBOT_KNOWLEDGE:-../shared/corpora/lammps-manual-2024 lab-docs}; do
    [ -e "$path" ] && sources+=("$path")
done
if [ ${#sources[@]} -eq 0 ]; then
    sources=("$(dirname "$("$BIN/mdbot" example lj)")")  # at least the installed benchmark inputs
fi
store=$("$BIN/python" -c 'from mdbot.retrieval.settings import RetrievalSettings as S; print(S().store_dir)')
mkdir -p "$store"
log="$store/ingest.log"
echo "knowledge: ${sources[*]} (+ installed LAMMPS examples and potentials); progress in $log" >&2
nohup "$BIN/mdbot" ingest "${sources[@]}" > "$log" 2>&1 &
ingest=$!
# Wait for the first snapshot (or for the ingest to end: nothing new, or an error it reports).
while kill -0 "$ingest" 2>/dev/null && ! grep -q "^building the lexical index: .* in \|^ingested in" "$log"; do
    sleep 0.5
done
if ! kill -0 "$ingest" 2>/dev/null && ! wait "$ingest"; then
    cat "$log" >&2
    echo "the ingest failed (above); starting anyway with what the knowledge base has" >&2
else
    tail -n 3 "$log" >&2
fi
if "$BIN/python" -c 'import sys; from mdbot.bot.settings import SlackSettings as S; sys.exit(0 if S().bot_token else 1)'; then
    echo "MDBOT_SLACK_BOT_TOKEN is set: starting the Slack app (mdbot slack)" >&2
    exec "$BIN/mdbot" slack
fi
echo "no Slack token configured: starting the console (mdbot chat); see README → Slack to connect a workspace" >&2
exec "$BIN/mdbot" chat
