from risk.models import GLOBAL_KEY, user_key
from risk.selectors import engaged_keys


def kill_switch(request):
    """Banner state for every page: one cached read (services drop the cache on every switch change)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    try:
        keys = engaged_keys()
    except Exception:  # the banner must never take a page down
        return {}
    on_global, on_user = GLOBAL_KEY in keys, user_key(user.pk) in keys
    return {"KILL_SWITCH_GLOBAL": on_global, "KILL_SWITCH_USER": on_user, "KILL_SWITCH_ENGAGED": on_global or on_user}
