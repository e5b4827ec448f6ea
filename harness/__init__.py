"""Runs the real parts together on one machine: Mosquitto, central, edge agents and simulators.

Used by `scripts/demo` and by the end-to-end tests, so that both exercise the same wiring.
"""
