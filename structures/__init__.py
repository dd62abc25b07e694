"""Structures in, LAMMPS setups out: read what a lab attaches, compute pore geometry, build data files and inputs.

Depends on nothing of mdbot's except the sandbox, where the built inputs are checked and test-run
(docs/architecture.md §11).
"""
