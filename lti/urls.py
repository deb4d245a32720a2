from __future__ import annotations

from django.urls import path

from lti import views

urlpatterns = [
    path("jwks/", views.jwks, name="lti-jwks"),
]
