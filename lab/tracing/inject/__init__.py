"""The directory put first on PYTHONPATH of traced Python programs (see ``sitecustomize.py``).

It is a package only so that it ships with ``lab``; the traced program imports ``sitecustomize`` and
``_labtrace`` from it as top-level modules and never imports ``lab``.
"""
