#!/usr/bin/env bash
# `make run`: bring the knowledge base up to date with what is available, then start the Slack app when
# Slack tokens are configured (environment or .env), the console otherwise.
# Sources: MDBOT_KNOWLEDGE (space-separated paths) or, by default, the LAMMPS manual copy beside the repository
# and the lab's lab-docs/ folder when they exist (docs/ is mdbot's own documentation, not lab knowledge);
# the installed LAMMPS examples and potentials always.
# Ingest is incremental: only the first run pays for embedding (about 4 minutes for the whole manual on 2 cores).
set -euo pipefail
BIN=.venv/bin
sources=()
for path in ${MDBOT_KNOWLEDGE:-../shared/corpora/lammps-manual-2020 lab-docs}; do
    [ -e "$path" ] && sources+=("$path")
done
if [ ${#sources[@]} -eq 0 ]; then
    sources=("$(dirname "$("$BIN/mdbot" example lj)")")  # at least the installed benchmark inputs
fi
echo "knowledge: ${sources[*]} (+ installed LAMMPS examples and potentials)" >&2
"$BIN/mdbot" ingest "${sources[@]}"
if "$BIN/python" -c 'import sys; from mdbot.bot.settings import SlackSettings as S; sys.exit(0 if S().bot_token else 1)'; then
    echo "MDBOT_SLACK_BOT_TOKEN is set: starting the Slack app (mdbot slack)" >&2
    exec "$BIN/mdbot" slack
fi
echo "no Slack token configured: starting the console (mdbot chat); see README → Slack to connect a workspace" >&2
exec "$BIN/mdbot" chat
