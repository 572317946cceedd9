from django.contrib import admin

from autonomy import models as m


@admin.register(m.ActionPolicy)
class ActionPolicyAdmin(admin.ModelAdmin):
    list_display = ["kind", "risk"]


@admin.register(m.ProposedAction)
class ProposedActionAdmin(admin.ModelAdmin):
    list_display = [
        "kind",
        "target",
        "risk",
        "status",
        "created_at",
        "decided_by",
        "decided_at",
        "signature",
    ]
    list_filter = ["status", "kind", "risk", "site"]
    search_fields = ["target", "explanation"]
    readonly_fields = [f.name for f in m.ProposedAction._meta.fields]
