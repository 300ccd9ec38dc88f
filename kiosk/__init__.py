"""The patient kiosk's web pages (no Python here): a package only so that the files ship in the wheel;
the daemon serves this folder at /kiosk/ (cardservice.api._pages)."""
