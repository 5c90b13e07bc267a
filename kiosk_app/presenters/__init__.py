"""Screen logic as plain Python: no widgets, no Kivy, tested without a window."""
