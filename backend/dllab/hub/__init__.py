"""What DLLab plugs into JupyterHub: the spawner, the authenticator and the configuration.

These modules run inside the JupyterHub process (``dllab hub``), never in the control
plane; they reach the control plane over HTTP only.
"""
