"""``python -m storelink``: the same as the ``storelink`` command."""

from storelink.cli import main

if __name__ == "__main__":
    main()
