"""The small map of an alert (``presenters/minimap.MapModel``), drawn with Kivy's canvas: no
tiles, nothing fetched. Stations are grey dots with their names, the volunteer a blue dot,
the sighting a red ring; a scale bar of a round length in the lower left corner. Names are
Labels on the map's own background, so the contrast checks read them like any text."""

from __future__ import annotations

from typing import Any

from kivy.graphics import Color, Ellipse, Line, Rectangle
from kivy.metrics import dp
from kivy.properties import ListProperty, ObjectProperty
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.label import Label

from kiosk_app.presenters.minimap import MapModel
from kiosk_app.ui import theme

MARKER = {  # kind -> (colour, radius in dp, text colour)
    "station": (theme.MUTED, 5, theme.MUTED),
    "you": (theme.PRIMARY, 8, theme.PRIMARY),
    "sighting": (theme.DANGER, 10, theme.ERROR_TEXT),
}


class SightingMap(FloatLayout):
    model = ObjectProperty(None, allownone=True)  # a MapModel
    bg_color = ListProperty(list(theme.MAP_BG))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind(model=self.redraw, pos=self.redraw, size=self.redraw)

    def to_screen(self, model: MapModel, x_m: float, y_m: float) -> tuple[float, float]:
        """Map metres to this widget's pixels: a square around the centre, north up."""
        side = min(self.width, self.height) - dp(16)
        k = side / (2 * model.half_extent_m)
        return self.center_x + x_m * k, self.center_y + y_m * k

    def redraw(self, *_: Any) -> None:
        self.clear_widgets()
        self.canvas.before.clear()
        with self.canvas.before:
            Color(*self.bg_color)
            Rectangle(pos=self.pos, size=self.size)
            Color(*theme.EDGE)
            Line(rectangle=(self.x + 1, self.y + 1, self.width - 2, self.height - 2), width=1)
        model = self.model
        if model is None or self.width < 10 or self.height < 10:
            return
        points = {p.kind: p for p in model.points if p.kind != "station"}
        with self.canvas.before:
            if "you" in points:  # the way to go, as the crow flies
                Color(*theme.PRIMARY)
                a = self.to_screen(model, points["you"].x_m, points["you"].y_m)
                b = self.to_screen(model, points["sighting"].x_m, points["sighting"].y_m)
                Line(points=[*a, *b], width=dp(1.2), dash_length=6, dash_offset=4)
            for point in model.points:
                colour, radius, _ = MARKER[point.kind]
                x, y = self.to_screen(model, point.x_m, point.y_m)
                r = dp(radius)
                Color(*colour)
                if point.kind == "sighting":
                    Line(circle=(x, y, r), width=dp(3))
                    Ellipse(pos=(x - r / 3, y - r / 3), size=(2 * r / 3, 2 * r / 3))
                else:
                    Ellipse(pos=(x - r, y - r), size=(2 * r, 2 * r))
            # the scale bar: a round length, lower left
            k = (min(self.width, self.height) - dp(16)) / (2 * model.half_extent_m)
            length = model.scale_m * k
            x0, y0 = self.x + dp(10), self.y + dp(12)
            Color(*theme.TEXT)
            Line(
                points=[x0, y0 + dp(6), x0, y0, x0 + length, y0, x0 + length, y0 + dp(6)],
                width=dp(1.5),
            )
        for point in model.points:
            _, radius, text_colour = MARKER[point.kind]
            x, y = self.to_screen(model, point.x_m, point.y_m)
            self._label(
                point.label, text_colour, x + dp(radius) + dp(3), y, bold=point.kind != "station"
            )
        self._label(model.scale_label, theme.TEXT, x0 + length + dp(6), y0 + dp(4), bold=False)

    def _label(self, text: str, colour: Any, left: float, middle: float, *, bold: bool) -> None:
        label = Label(text=text, color=colour, bold=bold, font_size="15sp", size_hint=(None, None))
        label.texture_update()
        label.size = label.texture_size
        # keep names inside the map: flip to the left of the marker at the right edge
        if left + label.width > self.right - dp(4):
            left = max(self.x + dp(4), left - label.width - dp(26))
        label.pos = (
            left,
            max(self.y + dp(2), min(self.top - label.height - dp(2), middle - label.height / 2)),
        )
        self.add_widget(label)
