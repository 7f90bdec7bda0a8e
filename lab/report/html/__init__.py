"""report.html: the browser view of a run (one self-contained page); see page.py."""
