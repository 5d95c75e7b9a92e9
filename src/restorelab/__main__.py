"""`python -m restorelab ...` is the `restorelab` command."""

from restorelab.cli import main

if __name__ == "__main__":
    main()
