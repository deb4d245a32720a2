from django.apps import AppConfig


class LtiConfig(AppConfig):
    name = "lti"
    verbose_name = "LMS integration (LTI 1.3)"
    default_auto_field = "django.db.models.BigAutoField"
