"""Every rendering of a run: the terminal ladder (ladder.py, terminal.py), report.html (html/), and the
rules both share (hops.py: which hop a frame is, background, what the programs caused; records.py: the
run's records read and checked once, where they are read, without the answers; shapes.py: that check,
derived from lab.records). Past records.py every record is read by subscript, as its type says."""
