"""Curation steps as composite Beam PTransforms (see transforms/curate_step.py for the contract)."""
