"""Where a page goes back to after a POST: the form's `next`, only if it is a path on this site."""

from django.utils.http import url_has_allowed_host_and_scheme


def next_url(request, default: str) -> str:
    """`next` from the form (or the query string) when it is a local path like "/bots/3/", else `default`.

    Only absolute paths are taken: a bare word would be read as a view name by `redirect()`, and another
    host (or a scheme-relative "//host") would send the user off the site.
    """
    target = request.POST.get("next") or request.GET.get("next") or ""
    if (target.startswith("/") and not target.startswith(("//", "/\\")) and "\x00" not in target
            and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                require_https=request.is_secure())):
        return target
    return default
