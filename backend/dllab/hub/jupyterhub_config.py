"""JupyterHub's configuration for DLLab, read by ``dllab hub`` (``jupyterhub -f``).

Everything comes from the control plane's settings (``DLLAB_*``): the hub keeps its state
under DLLAB_HOME/hub, routes through the edge proxy's Traefik, logs users in by their
console session and runs every server as a DLLab environment.
"""

# ruff: noqa: F821  (get_config is given by JupyterHub's config loader)

from dllab import edge
from dllab.config import HUB_BASE_URL, get_settings
from dllab.hub.authenticator import DLLabAuthenticator
from dllab.hub.spawner import DLLabSpawner
from dllab.security import shared_secret

settings = get_settings()
state = (settings.home / "hub").resolve()
state.mkdir(parents=True, exist_ok=True)
c = get_config()

c.JupyterHub.base_url = HUB_BASE_URL
c.JupyterHub.bind_url = settings.public_edge_url + HUB_BASE_URL  # the public face: the edge
# Its own server on every interface: environments in containers call its API.
c.JupyterHub.hub_bind_url = f"http://0.0.0.0:{settings.hub_port}"
c.JupyterHub.hub_connect_url = f"http://127.0.0.1:{settings.hub_port}"  # for the edge proxy
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = False  # a restarted hub finds its environments running
c.JupyterHub.allow_named_servers = True
c.JupyterHub.named_server_limit_per_user = 0  # the scheduler and quotas limit, not the hub
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}  # answer the control plane at once

c.JupyterHub.services = [{"name": "dllab", "api_token": shared_secret(settings.hub_token_file)}]
c.JupyterHub.load_roles = [{
    "name": "dllab-control-plane", "services": ["dllab"],
    "scopes": ["admin:users", "admin:servers", "read:users"],
}]

c.JupyterHub.authenticator_class = DLLabAuthenticator
c.Authenticator.allow_all = True  # every DLLab user; the console session decides

c.JupyterHub.spawner_class = DLLabSpawner
c.Spawner.hub_connect_url = (settings.hub_connect_url
                             or f"http://host.docker.internal:{settings.hub_port}")
c.Spawner.start_timeout = settings.hub_start_timeout  # the GPU queue included
c.Spawner.http_timeout = 1800  # S3 volumes are copied in before JupyterLab answers
c.Spawner.default_url = "/lab"

c.JupyterHub.proxy_class = "traefik_file"
c.TraefikFileProviderProxy.should_start = False  # `dllab edge` runs it for everything
c.TraefikFileProviderProxy.dynamic_config_file = str(edge.hub_routes_file(settings).resolve())
c.TraefikFileProviderProxy.traefik_api_url = f"http://127.0.0.1:{settings.edge_api_port}"
c.TraefikFileProviderProxy.traefik_api_username = "jupyterhub"
c.TraefikFileProviderProxy.traefik_api_password = edge.api_password(settings)
c.TraefikFileProviderProxy.traefik_entrypoint = edge.PUBLIC_ENTRYPOINT
c.TraefikFileProviderProxy.traefik_api_entrypoint = edge.API_ENTRYPOINT
