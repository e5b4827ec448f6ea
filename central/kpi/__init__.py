"""KPI maths on numpy arrays: attribution windows, food waste, energy, the daily report.

No web or database imports here: every function is testable on small hand-made arrays.
"""
