"""The Kivy side: the App (wiring only), one module of screen classes, one .kv file per screen."""
