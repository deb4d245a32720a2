"""Page-number pagination for APIViews, and its schema (spectacular only infers it for
generic list views)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Model, QuerySet
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


def paginated_response(
    *,
    request: Request,
    view: APIView,
    queryset: QuerySet[Any],
    serializer: type[serializers.Serializer[Any]],
    to_data: Callable[[Any], dict[str, Any]] | None = None,
) -> Response:
    """One page; `to_data` builds an item already in `serializer`'s shape (when the item
    needs more than its attributes), otherwise the serializer reads the objects."""
    paginator = PageNumberPagination()
    page: list[Model] = paginator.paginate_queryset(queryset, request, view=view) or []
    if to_data is not None:
        return paginator.get_paginated_response([to_data(item) for item in page])
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
