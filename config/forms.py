"""Form helpers shared by the server-rendered pages."""

from config.api import DomainError


def form_add_domain_error(form, exc: DomainError) -> None:
    """Show a service's refusal on the form: each field error beside its input, the rest on top."""
    for field, errors in exc.fields.items():
        for error in errors if isinstance(errors, list) else [errors]:
            form.add_error(field if field in form.fields else None, error)
    if not exc.fields:
        form.add_error(None, exc.message)
