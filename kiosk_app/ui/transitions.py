"""Screen changes that never show two screens at once."""

from __future__ import annotations

from kivy.uix.screenmanager import NoTransition, ScreenManager, ScreenManagerException


class CutTransition(NoTransition):
    """A hard cut: the new screen replaces the old one within the same clock tick, so no
    frame ever shows both. Kivy's NoTransition still runs a zero-length Animation, which
    completes on the next tick: the frame drawn in between shows both screens, one over
    the other (the app draws no opaque screen background)."""

    def start(self, manager: ScreenManager) -> None:
        if self.is_active:
            raise ScreenManagerException("start() is called twice!")
        self.manager = manager
        screen_in, screen_out = self.screen_in, self.screen_out
        screen_in.dispatch("on_pre_enter")
        screen_out.dispatch("on_pre_leave")
        self.remove_screen(screen_out)
        self.add_screen(screen_in)
        screen_in.pos = screen_out.pos = manager.pos
        screen_in.transition_progress, screen_out.transition_progress = 1.0, 0.0
        screen_in.dispatch("on_enter")
        screen_out.dispatch("on_leave")
