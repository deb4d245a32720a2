from django.urls import path

from questions.apis import EnvironmentListApi, ExerciseDetailApi, ExerciseListApi, QuizDetailApi, QuizListApi

urlpatterns = [
    path("quizzes/", QuizListApi.as_view(), name="quiz-list"),
    path("quizzes/<slug:slug>/", QuizDetailApi.as_view(), name="quiz-detail"),
    path("environments/", EnvironmentListApi.as_view(), name="environment-list"),
    path("exercises/", ExerciseListApi.as_view(), name="exercise-list"),
    path("exercises/<slug:slug>/", ExerciseDetailApi.as_view(), name="exercise-detail"),
]
