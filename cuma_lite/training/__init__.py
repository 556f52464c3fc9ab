"""Training: TRL's GRPOTrainer with CuMa's mask and curriculum (``trainer``, ``mask``), the run end to end
(``run.train``), its directory, data and logs (``rundir``, ``rundata``, ``logs``, ``heldout``, ``callbacks``),
the confidence rewards (``confidence``) and the trl 1.15 CPU fallback (``trl_compat``).

Importing this package imports nothing heavy; ``from cuma_lite.training.run import train`` does.
"""
