"""The dates meshui accepts from people: 1970-01-01 to 2999-12-31.

Wide enough for anything meshui can have recorded; narrow enough that what forms and
selectors do with a date (add a day, subtract a 30-day period, apply a time-zone offset of
up to a day) stays inside what Python's datetime can hold, so no input overflows into a 500.
"""

from __future__ import annotations

from datetime import date

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

EARLIEST = date(1970, 1, 1)
LATEST = date(2999, 12, 31)
OUT_OF_RANGE = f"Enter a date between {EARLIEST} and {LATEST}."


class CalendarDateField(forms.DateField):
    """A DateField that refuses dates outside EARLIEST..LATEST with one plain sentence."""

    default_validators = [
        MinValueValidator(EARLIEST, message=OUT_OF_RANGE),
        MaxValueValidator(LATEST, message=OUT_OF_RANGE),
    ]
