"""KPI maths on numpy arrays: attribution windows, base quantities per date, KPIs of report rows.

No web or database imports here: every function is testable on small hand-made arrays.
"""
