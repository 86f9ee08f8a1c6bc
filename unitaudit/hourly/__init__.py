"""The hourly run: the incremental scan, the carried hour, the history, the timer's round."""
