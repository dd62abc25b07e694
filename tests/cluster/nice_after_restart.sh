#!/bin/bash
# The timeout test's LAMMPS command: "$@" (LAMMPS and its arguments) at normal priority until it has written its
# first restart file of its own, then at `nice 19` until Slurm's time limit stops it. The job has to reach a
# restart file within its minute (at nice 19 beside busy tests it may not), but after that it only has to stay
# running, and at normal priority it burned a core for the rest of the minute (80 CPU-s of a 2-core suite).
# Restart files it was given (a continuation) do not count.
shopt -s nullglob
before=" $(echo mdbot.restart.*) "
"$@" &
pid=$!

descendants() {  # $1 and every process below it (the console script runs the LAMMPS binary as its child)
  echo "$1"
  for child in $(pgrep -P "$1"); do descendants "$child"; done
}
trap 'kill -TERM $(descendants $pid) 2>/dev/null; wait $pid; exit 143' TERM

has_own_restart() {
  local f
  for f in mdbot.restart.*; do [[ $before == *" $f "* ]] || return 0; done
  return 1
}

while kill -0 $pid 2>/dev/null && ! has_own_restart; do
  sleep 0.5  # the job's own polling for its restart file, not a test waiting for a result
done
for p in $(descendants $pid); do  # nice is per thread on Linux: every thread of every process
  renice -n 19 -p $(ls /proc/$p/task 2>/dev/null) >/dev/null 2>&1
  # and Slurm starts each job in a session of its own, which the kernel's autogroup scheduling weighs like
  # any other session (the whole test suite is one) whatever its processes' nice: the session too
  echo 19 > /proc/$p/autogroup 2>/dev/null
done
wait $pid
