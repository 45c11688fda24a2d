"""``python -m greenhop``: the ``greenhop`` command."""

from greenhop.cli import main

if __name__ == "__main__":
    main()
