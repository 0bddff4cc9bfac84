"""Driving the system OpenSSH client: argv building, ControlMaster, forwards, remote scripts."""
