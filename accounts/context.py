from django.conf import settings


def platform(request):
    return {
        "ENABLE_TRADING": settings.ENABLE_TRADING,
        "ENABLE_LIVE_TRADING": settings.ENABLE_LIVE_TRADING,
    }
