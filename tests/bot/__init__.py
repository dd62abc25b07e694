"""The Slack app's tests."""

# How long a test waits for the bot's own work (an answer, an upload, a worker) before calling it lost. Waits
# are on events and end as soon as the work is done; this bound is reached only by a hang, never by a slow,
# loaded machine. Where speed is the point of a test (Slack's 3 s for an acknowledgement), the test says so.
PATIENT_S = 600.0
