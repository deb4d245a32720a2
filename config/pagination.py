"""Page-number pagination for APIViews, and its schema (spectacular only infers it for
generic list views)."""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


def paginated_response(
    *, request: Request, view: APIView, queryset: QuerySet[Any], serializer: type[serializers.Serializer[Any]]
) -> Response:
    paginator = PageNumberPagination()
    page: list[Model] = paginator.paginate_queryset(queryset, request, view=view) or []
    return paginator.get_paginated_response(serializer(page, many=True).data)


def paginated_schema(*, name: str, item: type[serializers.Serializer[Any]]) -> serializers.Serializer[Any]:
    return inline_serializer(
        name=name,
        fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )
