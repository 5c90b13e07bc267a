"""``python -m devstack``: see devstack.run."""

from devstack.run import main

main()
