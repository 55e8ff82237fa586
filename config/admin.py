"""Admin building blocks shared by the apps."""

from decimal import Decimal, InvalidOperation

from django.contrib import admin
from django.db.models import DecimalField


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records nobody edits by hand (audit log, fills, risk events, delivery log): view and search only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- numbers in list columns: numeric(38, 18) without its padding (3000.000000000000000000 -> 3000) -----------

def decimal_plain(value, places: int | None = None) -> str:
    """At most `places` decimals, trailing zeros dropped, never an exponent: 0E-18 -> "0", 100.0500 -> "100.05"."""
    try:
        value = Decimal(value)
        if places is not None:
            value = value.quantize(Decimal(1).scaleb(-places))
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _decimal_column(model, name: str):
    field = model._meta.get_field(name)

    @admin.display(description=field.verbose_name, ordering=name, empty_value="—")
    def column(obj):
        value = getattr(obj, name)
        return None if value is None else decimal_plain(value, field.decimal_places)

    column.__name__ = f"{name}_shown"
    return column


def decimal_columns_trim(admin_class: type[admin.ModelAdmin], model) -> type[admin.ModelAdmin]:
    """Show the model's DecimalField columns of `admin_class.list_display` without their padding."""
    decimals = {f.name for f in model._meta.fields if isinstance(f, DecimalField)}
    admin_class.list_display = tuple(_decimal_column(model, n) if isinstance(n, str) and n in decimals else n
                                     for n in admin_class.list_display)
    return admin_class
