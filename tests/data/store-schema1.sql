-- A session store written by hoplab 0.1.0 (schema 1), dumped with sqlite3 iterdump.
PRAGMA user_version = 1;
BEGIN TRANSACTION;
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    target_key TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    data TEXT NOT NULL
);
INSERT INTO "sessions" VALUES('3f9c2a1b','889f1d54e3212032:lab','detached',1.79601185679692268372e+09,'{"id": "3f9c2a1b", "target": "node001", "destination": "node001", "jumps": ["login01"], "ssh_config": null, "multiplex": true, "app": "lab", "token": "tttttttttttttttttttttttttttttttttttttttttttttttt", "state": "detached", "created": 1796011856.7969227, "updated": 1796011856.7969387, "scheduler": "none", "remote_dir": "/home/hopuser/.hoplab/sessions/3f9c2a1b", "remote_host": "node001", "remote": "/tmp/hoplab-1000/3f9c2a1b.sock", "socket": "/tmp/hoplab-1000/3f9c2a1b.sock", "jupyter_pid": 4242, "base_url": "/", "local_port": 41873, "forward_pid": null, "attached_pid": null, "error": null, "scheduler_version": null, "job_id": null, "node": null, "reach": null, "forwards": [], "walltime_end": null, "lease_seconds": null, "orphan": false}');
INSERT INTO "sessions" VALUES('77aa00cc','19d74ac524f49ebd:notebook','detached',1.79601185679693365095e+09,'{"id": "77aa00cc", "target": "login01", "destination": "login01", "jumps": [], "ssh_config": null, "multiplex": true, "app": "notebook", "token": "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu", "state": "detached", "created": 1796011856.7969337, "updated": 1796011856.7973278, "scheduler": "slurm", "remote_dir": "/home/hopuser/.hoplab/sessions/77aa00cc", "remote_host": null, "remote": null, "socket": null, "jupyter_pid": null, "base_url": "/", "local_port": null, "forward_pid": null, "attached_pid": null, "error": null, "scheduler_version": "22.5", "job_id": "17", "node": "node002", "reach": "ssh-node", "forwards": [], "walltime_end": null, "lease_seconds": null, "orphan": false}');
CREATE INDEX sessions_target ON sessions (target_key, state);
COMMIT;
