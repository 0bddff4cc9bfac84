"""Scripts hoplab writes for the user to run on their own machine, without hoplab.

Unlike ``launcher/sh`` (sent to the remote host on ssh's stdin), these run locally: the
portable reconnect script of ``hoplab attach ID --script FILE`` (:mod:`hoplab.scripts.reconnect`).
"""
