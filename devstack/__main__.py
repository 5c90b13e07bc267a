"""``python -m devstack``: see devstack.supervisor."""

from devstack.supervisor import main

main()
