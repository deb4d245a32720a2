from __future__ import annotations

from django.urls import include, path

from lti import views

urlpatterns = [
    path("jwks/", views.jwks, name="lti-jwks"),
    path("", include("lti.registration_urls")),
    path("login/", views.login, name="lti-login"),
    path("launch/", views.launch, name="lti-launch"),
    path("deep-link/", views.deep_link, name="lti-deep-link"),
    path("links/<int:link_id>/", views.link_detail, name="lti-link"),
    path("courses/<int:course_id>/roster/", views.roster_sync, name="lti-roster-sync"),
]
