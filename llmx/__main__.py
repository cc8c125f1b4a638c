"""``python -m llmx`` runs the command line."""

from llmx._cli import main

main()
