"""The lab catalogue: one lab = a topology + programs + expected observations + questions + coursework.

Public API::

    from lab.labs.spec import load_lab, list_labs     # LabSpec (frozen): steps, observations, questions
    from lab.labs.evaluate import evaluate            # after a run: observations, story (never answers)
    from lab.labs.grading import grade                # a student's answers vs the key of the run's raw
                                                      # evidence, against the teacher's lab file

Lab files are ``lab/labs/<name>.yaml`` (see ``lab/labs/README.md``); their programs live in
``programs/``, lab-specific topologies in ``topologies/``. ``lab.runner`` runs a lab; this package only
describes and judges it.
"""
