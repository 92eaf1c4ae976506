"""`python -m labelmix` == `labelmix`."""

from labelmix.cli import main

main()
