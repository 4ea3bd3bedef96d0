"""Replays: the recording of a replay session, its render job, the video's
link and email, the render worker and the retention purge. docs/REPLAY.md has the whole."""
