"""Real local runs of the launcher against real Jupyter installs, without the sandbox.

The Jupyter venvs are the sandbox's own, made once per machine on first use
(:mod:`hoplab.testing.jupyter_env`): ``nb6`` (notebook 6.5.7), ``lab3`` (jupyterlab 3.6.8 on
jupyter_server 1.24) and ``lab4`` (the main one: current jupyterlab and notebook 7). A missing
venv is made, never skipped. Everything listens on a Unix socket or on
127.0.0.1 only; every process started is stopped by PID.
"""
