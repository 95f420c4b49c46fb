"""``python -m mige_eval`` (what ``torchrun -m mige_eval`` launches)."""

from mige_eval.cli import main

main()
