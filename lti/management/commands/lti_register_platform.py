from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from config.errors import ServiceError
from lti.keys import tool_key_current
from lti.services import PlatformRegistration, platform_register
from lti.tool_urls import tool_urls


class Command(BaseCommand):
    help = (
        "Register an LMS platform (or update the one with this issuer and client id, adding "
        "deployment ids), then print the tool's URLs to give the platform. Safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--issuer", required=True, help="The platform's iss, e.g. https://canvas.instructure.com")
        parser.add_argument("--client-id", required=True, help="The client id the platform gave this tool")
        parser.add_argument(
            "--deployment-id", required=True, action="append", help="A deployment id (repeat for several)"
        )
        parser.add_argument("--auth-login-url", required=True, help="The platform's OIDC authorisation endpoint")
        parser.add_argument("--auth-token-url", required=True, help="The platform's OAuth2 token endpoint")
        parser.add_argument("--keyset-url", required=True, help="The platform's public key set (JWKS) URL")
        parser.add_argument("--auth-audience", default="", help="The aud of client assertions, if not the token URL")
        parser.add_argument(
            "--frame-origin",
            action="append",
            default=[],
            help="An origin that shows the tool in a frame when it is not the issuer's, e.g. "
            "https://school.instructure.com for hosted Canvas (repeat for several)",
        )
        parser.add_argument("--name", default="", help="A name for people (default: the issuer)")

    def handle(self, *args: Any, **options: Any) -> None:
        registration = PlatformRegistration(
            name=options["name"],
            issuer=options["issuer"],
            client_id=options["client_id"],
            deployment_ids=options["deployment_id"],
            auth_login_url=options["auth_login_url"],
            auth_token_url=options["auth_token_url"],
            keyset_url=options["keyset_url"],
            auth_audience=options["auth_audience"],
            frame_origins=options["frame_origin"],
        )
        try:
            platform, created = platform_register(registration=registration)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        tool_key_current(now=timezone.now())  # the key set is never empty once a platform exists
        deployments = ", ".join(platform.deployments.values_list("deployment_id", flat=True))
        self.stdout.write(f"{'Registered' if created else 'Updated'} {platform} (deployments: {deployments})")
        if platform.frame_origins:
            self.stdout.write(f"It may also frame the tool from: {', '.join(platform.frame_origins.splitlines())}")
        self.stdout.write("Give the platform these tool URLs:")
        for label, url in tool_urls().items():
            self.stdout.write(f"  {label + ':':28} {url}")
