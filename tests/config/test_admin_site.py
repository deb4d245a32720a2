"""Who may use the admin: instructors by role (staff or the instructors group)."""

from __future__ import annotations

from django.test import Client


def login(client: Client, username: str) -> int:
    response = client.post("/admin/login/?next=/admin/", {"username": username, "password": "pass-word-123"})
    return response.status_code


def test_it_lets_group_instructors_in_without_staff_status(instructor):
    assert not instructor.is_staff
    client = Client()
    assert login(client, "charlie") == 302
    assert client.get("/admin/questions/question/").status_code == 200
    assert client.get("/admin/grader/attempt/").status_code == 200


def test_it_keeps_students_out(student):
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": "alice", "password": "pass-word-123"})
    assert response.status_code == 200
    assert "not an instructor account" in response.content.decode()
    assert client.get("/admin/questions/question/").status_code == 302


def test_it_keeps_group_instructors_away_from_user_accounts(instructor):
    client = Client()
    login(client, "charlie")
    assert client.get("/admin/auth/user/").status_code == 403
