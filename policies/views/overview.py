from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET


@require_GET
def overview(request):
    return TemplateResponse(request, "policies/overview.html", {})
