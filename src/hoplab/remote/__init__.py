"""The client of the remote side: scripts sent over ssh, framed replies, scheduler commands."""
