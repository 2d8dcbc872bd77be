"""meshui's Django project: settings, URLs and the Celery app (meshui.celery).

The Celery app is loaded by PoliciesConfig.ready(), that is by every process that sets
Django up (web, workers, commands), so that `shared_task` binds to it. It is not imported
here: the offline `posture` check reads settings without setting Django up, and importing
Celery cost it 70 ms of its start. `celery -A meshui` finds meshui.celery by itself.
"""
