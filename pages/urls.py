from __future__ import annotations

from django.urls import path

from pages import views

urlpatterns = [
    path("", views.home, name="pages-home"),
    path("login/", views.login, name="pages-login"),
    path("logout/", views.logout, name="pages-logout"),
    path("history/", views.history, name="pages-history"),
    path("quizzes/<slug:slug>/", views.quiz_detail, name="pages-quiz"),
    path("attempts/<int:attempt_id>/", views.attempt_detail, name="pages-attempt"),
    path("exercises/<slug:slug>/", views.exercise_detail, name="pages-exercise"),
    path("exercises/<slug:slug>/notebook/", views.exercise_notebook, name="pages-exercise-notebook"),
    path("exercises/<slug:slug>/check/", views.exercise_check, name="pages-exercise-check"),
    path("check-runs/<int:check_run_id>/", views.check_run_detail, name="pages-check-run"),
    path("submissions/<int:submission_id>/", views.submission_detail, name="pages-submission"),
    path("submissions/<int:submission_id>/notebook/", views.submission_notebook, name="pages-submission-notebook"),
]
