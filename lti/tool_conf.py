"""pylti1p3's view of the platforms registered here, and where it keeps login state.

pylti1p3 ships a Django app of its own for registrations; it is not installed (its
migrations would be written into site-packages, and this project keeps platforms in
lti.models). These adapters give pylti1p3 what it asks for instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from pylti1p3.deployment import Deployment as LibraryDeployment
from pylti1p3.launch_data_storage.base import LaunchDataStorage
from pylti1p3.registration import Registration
from pylti1p3.request import Request
from pylti1p3.tool_config.abstract import ToolConfAbstract

from lti.keys import tool_key_current
from lti.models import Deployment, LaunchData, Platform

# pylti1p3 stores each nonce it issues under this key prefix, then asks whether it exists.
NONCE_KEY_PREFIX = "lti1p3-nonce-"


class PlatformRegistration(Registration):
    """A pylti1p3 registration that remembers which Platform row it came from."""

    def __init__(self, platform: Platform) -> None:
        super().__init__()
        self.platform = platform
        key = tool_key_current(now=timezone.now())
        self.set_issuer(platform.issuer)
        self.set_client_id(platform.client_id)
        self.set_auth_login_url(platform.auth_login_url)
        self.set_auth_token_url(platform.auth_token_url)
        self.set_key_set_url(platform.keyset_url)
        self.set_tool_private_key(key.private_key_pem)
        if platform.auth_audience:
            self.set_auth_audience(platform.auth_audience)


class PlatformToolConf(ToolConfAbstract[Request]):
    """Registrations are looked up by issuer and client id (an issuer may register the
    tool several times); only active platforms and their listed deployments count."""

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    # pylti1p3 declares these as never None, yet tests their result for one.
    def find_registration_by_issuer(  # type: ignore[override]
        self, iss: str, *args: Any, **kwargs: Any
    ) -> PlatformRegistration | None:
        platforms = list(Platform.objects.filter(issuer=iss, is_active=True)[:2])
        return PlatformRegistration(platforms[0]) if len(platforms) == 1 else None

    def find_registration_by_params(  # type: ignore[override]
        self, iss: str, client_id: str | None, *args: Any, **kwargs: Any
    ) -> PlatformRegistration | None:
        if not client_id:  # a login without client_id: fine when the issuer registered once
            return self.find_registration_by_issuer(iss)
        platform = Platform.objects.filter(issuer=iss, client_id=client_id, is_active=True).first()
        return PlatformRegistration(platform) if platform is not None else None

    def find_deployment(self, iss: str, deployment_id: str) -> LibraryDeployment | None:
        return None  # never asked: check_iss_has_one_client is False

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str, *args: Any, **kwargs: Any
    ) -> LibraryDeployment | None:
        known = Deployment.objects.filter(
            platform__issuer=iss, platform__client_id=client_id, platform__is_active=True, deployment_id=deployment_id
        ).exists()
        return LibraryDeployment().set_deployment_id(deployment_id) if known else None


class DatabaseLaunchDataStorage(LaunchDataStorage[Any]):
    """Login state in the database (lti.LaunchData), shared by every web process.

    Keys are random (a nonce, a launch id), so no session cookie is needed: the launch is
    a cross-site POST, on which a SameSite=Lax session cookie is not sent anyway."""

    _session_cookie_name = ""

    def can_set_keys_expiration(self) -> bool:
        return True

    def get_value(self, key: str) -> Any:
        row = LaunchData.objects.filter(key=self._prepare_key(key), expires_at__gt=timezone.now()).first()
        return row.value if row is not None else None

    def set_value(self, key: str, value: Any, exp: int | None = None) -> None:
        expires_at = timezone.now() + timedelta(seconds=exp if exp is not None else 86400)
        key = self._prepare_key(key)
        try:
            with transaction.atomic():
                LaunchData.objects.update_or_create(key=key, defaults={"value": value, "expires_at": expires_at})
        except IntegrityError:  # created concurrently: same key, same meaning
            LaunchData.objects.filter(key=key).update(value=value, expires_at=expires_at)

    def check_value(self, key: str) -> bool:
        """pylti1p3 asks this only of nonces. Answering consumes it: a nonce is good for
        one launch, so a replayed id_token is refused even within its lifetime."""
        key = self._prepare_key(key)
        deleted, _ = LaunchData.objects.filter(key=key, expires_at__gt=timezone.now()).delete()
        return deleted == 1


def launch_data_purge(*, now: datetime) -> int:
    """Delete expired login state; returns how many rows went."""
    deleted, _ = LaunchData.objects.filter(expires_at__lte=now).delete()
    return deleted
