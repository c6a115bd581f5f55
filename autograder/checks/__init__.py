"""One file per module: its checks (``CHECKS``) and the known mistakes they catch."""

HIDDEN_WEIGHT = 3.0
"""The weight of a hidden case (a property weighs 1 unless it says otherwise).

Hidden cases are drawn to exercise the whole contract of a function (every rollout has an
episode end before its last step, every batch of ratios lands on both sides of the band),
so a wrong concept fails nearly all of them and loses most of the points; a property
isolates one edge (gamma 0, float64, a batch of one), and a slip there costs little. The
rule is stated on the conventions page."""
