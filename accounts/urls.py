from django.urls import path

from accounts.apis import TokenObtainApi

urlpatterns = [path("token/", TokenObtainApi.as_view(), name="auth-token")]
