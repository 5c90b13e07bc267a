"""Storage plumbing shared by the domain packages."""
