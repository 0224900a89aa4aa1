"""``python -m shipyard``: the same as the ``shipyard`` console script."""

from shipyard.cli.app import main

if __name__ == "__main__":
    main()
