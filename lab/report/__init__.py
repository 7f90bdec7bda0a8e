"""Every rendering of a run: the terminal ladder (ladder.py, terminal.py), report.html (html/), and the
rules both share (hops.py: which hop a frame is, background, what the programs caused; records.py: the
run's records read once, defensively, without the answers)."""
