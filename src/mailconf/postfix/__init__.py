"""Postfix's main.cf and master.cf: models, values and lint."""
