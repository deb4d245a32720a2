from __future__ import annotations

from django.urls import path

from lti import registration_views

urlpatterns = [
    path("register/", registration_views.dynamic_registration, name="lti-dynamic-registration"),
]
