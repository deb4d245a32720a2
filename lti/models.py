"""LMS platforms registered with the tool, and the tool's own signing keys.

A platform (one LMS installation's registration of this tool) is identified by its
issuer and the client id it gave the tool; launches are accepted only for its listed
deployments. The tool signs what it sends platforms (deep-linking responses, OAuth2
client assertions) with an RSA key kept here: generated on first use, rotated from the
admin, and published at /lti/jwks/ until it expires, so platforms holding a cached key
set keep verifying messages signed just before a rotation.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Platform(models.Model):
    name = models.CharField(max_length=200, help_text="For people, e.g. 'University Moodle'.")
    issuer = models.CharField(max_length=255, help_text="The platform's `iss`, e.g. https://canvas.instructure.com.")
    client_id = models.CharField(max_length=255, help_text="The client id the platform assigned to this tool.")
    auth_login_url = models.URLField(max_length=500, help_text="The platform's OIDC authorisation endpoint.")
    auth_token_url = models.URLField(
        max_length=500, help_text="The platform's OAuth2 token endpoint (grades, rosters)."
    )
    auth_audience = models.CharField(
        max_length=500, blank=True, help_text="The `aud` of client assertions when not the token URL (rare)."
    )
    keyset_url = models.URLField(max_length=500, help_text="Where the platform publishes its public keys (JWKS).")
    is_active = models.BooleanField(default=True, help_text="Inactive platforms cannot launch.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "client_id"], name="lti_platform_issuer_client_unique"),
        ]
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.issuer}, client {self.client_id})"


class Deployment(models.Model):
    """One placement of the tool in the platform (an LMS may deploy a registration many times)."""

    platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="deployments")
    deployment_id = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "deployment_id"], name="lti_deployment_unique"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.deployment_id


class ToolKey(models.Model):
    """An RSA key pair the tool signs with. One is current; retired keys stay published
    until `expires_at`, then only their row remains."""

    kid = models.CharField(max_length=64, unique=True)
    private_key_pem = models.TextField(help_text="PKCS#8 PEM; never shown in the admin.")
    public_jwk = models.JSONField(help_text="The public key as a JWK with kid, alg and use.")
    created_at = models.DateTimeField()
    is_current = models.BooleanField(default=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="No longer published after this.")

    class Meta:
        constraints = [
            # At most one current key, so two first uses at once cannot both create one.
            models.UniqueConstraint(
                fields=["is_current"], condition=Q(is_current=True), name="lti_one_current_tool_key"
            ),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.kid
