"""Central service: ingests edge batches, stores readings, serves food-waste and energy KPIs.

Kept import-light on purpose: `central.kpi` is plain numpy and must import without the web stack.
The application is built by `central.app.create_app(settings)`; the CLI is `central.__main__`.
"""
