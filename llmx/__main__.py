"""``python -m llmx`` runs the command line."""

from llmx.cli import main

main()
