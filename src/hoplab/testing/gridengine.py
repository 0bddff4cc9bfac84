"""A real Grid Engine (Debian's 8.1.9): sge_qmaster on login01, one sge_execd per node.

The sandbox owns its whole Grid Engine tree (SGE_ROOT under its root directory, cell
``default``, classic flat-file spooling), so nothing of the packages' own cell is used or
changed, and a fresh start begins with no jobs and an empty accounting file. The daemons run
as root (``admin_user none``) in the foreground (``SGE_ND``), so the PID the sandbox records is
the daemon's. Grid Engine accepts only host names it can resolve: every daemon sees the
sandbox's hosts file (see ``netns.as_host``), and so do the ssh sessions that run the clients.

One queue, ``all.q``, on both nodes with two slots each; one parallel environment, ``smp``
(``$pe_slots``: all slots on one node); the scheduler runs every second and keeps the reasons
why a job pends (``qstat -j``); accounting is written at once, for ``qacct``; ``-l h_rt`` is
enforced by the execd. The clients find the cluster through :func:`client_env`, which sshd sets
for every session. Grid Engine refuses jobs from uid 0: submit as the test user.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

from hoplab import process
from hoplab.testing.layout import (
    LOGIN,
    NODES,
    SGE_CELL,
    SGE_EXECD_PORT,
    SGE_QMASTER_PORT,
    Paths,
)
from hoplab.testing.tools import tool

if TYPE_CHECKING:
    from collections.abc import Mapping

BINARIES = Path("/usr/lib/gridengine")  # Debian's real binaries; /usr/bin has sh wrappers
RESOURCES = Path("/usr/share/gridengine/util/resources")  # default complexes and usersets
QUEUE = "all.q"
PARALLEL_ENVIRONMENT = "smp"
NODE_SLOTS = 2
SCHEDULE_INTERVAL = "0:0:1"


def client_env(sge_root: Path) -> dict[str, str]:
    """What Grid Engine's commands need to find the sandbox's cell and qmaster."""
    return {
        "SGE_ROOT": str(sge_root),
        "SGE_CELL": SGE_CELL,
        "SGE_QMASTER_PORT": str(SGE_QMASTER_PORT),
        "SGE_EXECD_PORT": str(SGE_EXECD_PORT),
    }


# the cell, before the qmaster starts ---------------------------------------------------------


def render_bootstrap(paths: Paths) -> str:
    """The cell's bootstrap file: classic spooling under the sandbox, daemons run as root."""
    spool = f"{paths.sge_common};{paths.sge_spool / 'qmaster'}"
    return _table(
        {
            "admin_user": "none",
            "default_domain": "none",
            "ignore_fqdn": "true",
            "spooling_method": "classic",
            "spooling_lib": "libspoolc",
            "spooling_params": spool,
            "binary_path": str(BINARIES),
            "qmaster_spool_dir": str(paths.sge_spool / "qmaster"),
            "security_mode": "none",
            "listener_threads": "2",
            "worker_threads": "2",
            "scheduler_threads": "1",
        }
    )


def render_global_configuration(paths: Paths) -> str:
    """The global configuration (``qconf -sconf``): Debian's defaults, with these changes.

    Accounting is written as soon as a job ends (``accounting_flush_time=0``), mail goes
    nowhere, and the execds keep their spool under the sandbox. ``ENABLE_ADDGRP_KILL`` makes
    qdel and an expired ``h_rt`` end every process of the job, also those that left its
    process group (a Jupyter server the job started, for example).
    """
    return "# Version: 8.1.9\n" + _table(
        {
            "conf_version": "0",
            "execd_spool_dir": str(paths.sge_spool / "execd"),
            "mailer": "/bin/true",
            "xterm": "/usr/bin/xterm",
            "load_sensor": "none",
            "prolog": "none",
            "epilog": "none",
            "shell_start_mode": "posix_compliant",
            "login_shells": "bash,sh,ksh,csh,tcsh",
            "min_uid": "1000",
            "min_gid": "1000",
            "user_lists": "none",
            "xuser_lists": "none",
            "projects": "none",
            "xprojects": "none",
            "enforce_project": "false",
            "enforce_user": "auto",
            "load_report_time": "00:00:40",
            "max_unheard": "00:05:00",
            "reschedule_unknown": "00:00:00",
            "loglevel": "log_info",
            "administrator_mail": "none",
            "set_token_cmd": "none",
            "pag_cmd": "none",
            "token_extend_time": "none",
            "shepherd_cmd": "none",
            "qmaster_params": "none",
            "execd_params": "ENABLE_ADDGRP_KILL=true",
            "reporting_params": "accounting=true reporting=false flush_time=00:00:01 "
            "joblog=false sharelog=00:00:00 accounting_flush_time=00:00:00",
            "finished_jobs": "100",
            "gid_range": "65400-65500",
            "qlogin_command": "builtin",
            "qlogin_daemon": "builtin",
            "rlogin_command": "builtin",
            "rlogin_daemon": "builtin",
            "rsh_command": "builtin",
            "rsh_daemon": "builtin",
            "max_aj_instances": "2000",
            "max_aj_tasks": "75000",
            "max_u_jobs": "0",
            "max_jobs": "0",
            "auto_user_oticket": "0",
            "auto_user_fshare": "0",
            "auto_user_default_project": "none",
            "auto_user_delete_time": "86400",
            "delegated_file_staging": "false",
            "reprioritize": "0",
            "jsv_url": "none",
            "jsv_allowed_mod": "ac,h,i,e,o,j,M,N,p,w",
        }
    )


def spool_init_argvs(paths: Paths, configuration: Path) -> list[list[str]]:
    """Create the qmaster's spool: global configuration, complexes, usersets, root as manager.

    What Debian's ``init_cluster`` does for its own cell, for classic spooling. The paths must
    be absolute: ``spooldefaults`` ignores a relative template path without saying so.
    """
    spool = f"{paths.sge_common};{paths.sge_spool / 'qmaster'}"
    defaults = str(BINARIES / "spooldefaults")
    return [
        [str(BINARIES / "spoolinit"), "classic", "libspoolc", spool, "init"],
        [defaults, "configuration", str(configuration)],
        [defaults, "complexes", str(RESOURCES / "centry")],
        [defaults, "usersets", str(RESOURCES / "usersets")],
        [defaults, "managers", "root"],
    ]


def write_cell(paths: Paths) -> None:
    """The cell's files and the qmaster's initial spool, in a freshly wiped SGE_ROOT."""
    for directory in (paths.sge_common, paths.sge_spool / "qmaster", paths.sge_spool / "execd"):
        directory.mkdir(parents=True, exist_ok=True)
    paths.sge_objects.mkdir(parents=True, exist_ok=True)
    (paths.sge_common / "bootstrap").write_text(render_bootstrap(paths))
    (paths.sge_common / "act_qmaster").write_text(LOGIN + "\n")
    configuration = paths.sge_objects / "global_configuration"
    configuration.write_text(render_global_configuration(paths))
    for argv in spool_init_argvs(paths, configuration):
        process.run(argv, env=client_env(paths.sge_root), timeout=30)
    for name, text in render_objects().items():
        (paths.sge_objects / name).write_text(text)


# objects loaded with qconf once the qmaster answers -----------------------------------------


def render_scheduler_configuration() -> str:
    """The scheduler (``qconf -ssconf``): Debian's defaults, every second, no load adjustment.

    ``schedd_job_info true`` keeps, for each pending job, why it cannot start (``qstat -j``).
    """
    return _table(
        {
            "algorithm": "default",
            "schedule_interval": SCHEDULE_INTERVAL,
            "maxujobs": "0",
            "queue_sort_method": "seqno",
            "job_load_adjustments": "NONE",
            "load_adjustment_decay_time": "0:0:0",
            "load_formula": "np_load_avg",
            "schedd_job_info": "true",
            "flush_submit_sec": "0",
            "flush_finish_sec": "0",
            "params": "none",
            "reprioritize_interval": "0:0:0",
            "halftime": "168",
            "usage_weight_list": "cpu=1.000000,mem=0.000000,io=0.000000",
            "compensation_factor": "5.000000",
            "weight_user": "0.250000",
            "weight_project": "0.250000",
            "weight_department": "0.250000",
            "weight_job": "0.250000",
            "weight_tickets_functional": "0",
            "weight_tickets_share": "0",
            "share_override_tickets": "TRUE",
            "share_functional_shares": "TRUE",
            "max_functional_jobs_to_schedule": "200",
            "report_pjob_tickets": "TRUE",
            "max_pending_tasks_per_job": "50",
            "halflife_decay_list": "none",
            "policy_hierarchy": "OFS",
            "weight_ticket": "0.500000",
            "weight_waiting_time": "0.278000",
            "weight_deadline": "3600000.000000",
            "weight_urgency": "0.500000",
            "weight_priority": "0.000000",
            "max_reservation": "0",
            "default_duration": "INFINITY",
        }
    )


def render_exec_host(node: str) -> str:
    """One execution host (``qconf -se``)."""
    return _table(
        {
            "hostname": node,
            "load_scaling": "NONE",
            "complex_values": "NONE",
            "user_lists": "NONE",
            "xuser_lists": "NONE",
            "projects": "NONE",
            "xprojects": "NONE",
            "usage_scaling": "NONE",
            "report_variables": "NONE",
        }
    )


def render_parallel_environment() -> str:
    """``smp`` (``qconf -sp``): every slot of a job on one node, as for a threaded program."""
    return _table(
        {
            "pe_name": PARALLEL_ENVIRONMENT,
            "slots": str(NODE_SLOTS * len(NODES)),
            "user_lists": "NONE",
            "xuser_lists": "NONE",
            "start_proc_args": "NONE",
            "stop_proc_args": "NONE",
            "allocation_rule": "$pe_slots",
            "control_slaves": "FALSE",
            "job_is_first_task": "TRUE",
            "urgency_slots": "min",
            "accounting_summary": "FALSE",
            "qsort_args": "NONE",
        }
    )


def render_queue() -> str:
    """``all.q`` (``qconf -sq``) on every node: two slots each, ``smp``, no time limit.

    The job's script runs under /bin/sh unless it asks for another shell with ``-S``; no load
    threshold, so a busy machine never puts the queue into alarm state.
    """
    limits = {
        f"{kind}_{name}": "INFINITY"
        for name in ("rt", "cpu", "fsize", "data", "stack", "core", "rss", "vmem")
        for kind in ("s", "h")
    }
    return _table(
        {
            "qname": QUEUE,
            "hostlist": " ".join(NODES),
            "seq_no": "0",
            "load_thresholds": "NONE",
            "suspend_thresholds": "NONE",
            "nsuspend": "1",
            "suspend_interval": "00:05:00",
            "priority": "0",
            "min_cpu_interval": "00:05:00",
            "processors": "UNDEFINED",
            "qtype": "BATCH INTERACTIVE",
            "ckpt_list": "NONE",
            "pe_list": PARALLEL_ENVIRONMENT,
            "rerun": "FALSE",
            "slots": str(NODE_SLOTS),
            "tmpdir": "/tmp",
            "shell": "/bin/sh",
            "prolog": "NONE",
            "epilog": "NONE",
            "shell_start_mode": "posix_compliant",
            "starter_method": "NONE",
            "suspend_method": "NONE",
            "resume_method": "NONE",
            "terminate_method": "NONE",
            "notify": "00:00:60",
            "owner_list": "NONE",
            "user_lists": "NONE",
            "xuser_lists": "NONE",
            "subordinate_list": "NONE",
            "complex_values": "NONE",
            "projects": "NONE",
            "xprojects": "NONE",
            "calendar": "NONE",
            "initial_state": "default",
            **limits,
        }
    )


def render_objects() -> dict[str, str]:
    """Every object file :func:`configure_argv` loads, by file name."""
    objects = {
        "scheduler": render_scheduler_configuration(),
        "pe-smp": render_parallel_environment(),
        "queue": render_queue(),
    }
    objects.update({f"exechost-{node}": render_exec_host(node) for node in NODES})
    return objects


def configure_argv(paths: Paths) -> list[str]:
    """One ``qconf`` call, run as root on login01 once the qmaster answers, before any execd.

    qconf carries out its options in order and exits non-zero if any failed; one call instead
    of six saves most of a second. login01 becomes a submit host (the qmaster's host is an
    admin host already); the nodes become execution hosts before their execds first report.
    """
    objects = paths.sge_objects
    argv = [tool("qconf"), "-Msconf", str(objects / "scheduler"), "-as", LOGIN]
    for node in NODES:
        argv += ["-Ae", str(objects / f"exechost-{node}")]
    return [*argv, "-Ap", str(objects / "pe-smp"), "-Aq", str(objects / "queue")]


# daemons and readiness --------------------------------------------------------------------


def _daemon_argv(paths: Paths, program: str) -> list[str]:
    settings = [f"{key}={value}" for key, value in client_env(paths.sge_root).items()]
    return [tool("env"), "SGE_ND=1", *settings, str(BINARIES / program)]


def qmaster_argv(paths: Paths) -> list[str]:
    """sge_qmaster in the foreground (``SGE_ND=1``: it does not fork, so its PID is ours)."""
    return _daemon_argv(paths, "sge_qmaster")


def execd_argv(paths: Paths) -> list[str]:
    """sge_execd in the foreground; it learns its host name from the namespace."""
    return _daemon_argv(paths, "sge_execd")


def qmaster_probe_argv() -> list[str]:
    """A cheap request that succeeds once the qmaster accepts clients: list the admin hosts."""
    return [tool("qconf"), "-sh"]


def queue_status_argv() -> list[str]:
    """Every queue instance with its state, as XML."""
    return [tool("qstat"), "-f", "-xml"]


def ready_nodes(qstat_f_xml: str) -> set[str]:
    """Nodes whose ``all.q`` instance has no state flag (``u`` until its execd reports)."""
    try:
        root = ET.fromstring(qstat_f_xml)  # noqa: S314  (our own qmaster's output)
    except ET.ParseError:
        return set()
    ready = set()
    for queue in root.iter("Queue-List"):
        name = queue.findtext("name") or ""
        qname, _, host = name.partition("@")
        if qname == QUEUE and host and not (queue.findtext("state") or "").strip():
            ready.add(host)
    return ready


def log_files(paths: Paths) -> dict[str, Path]:
    """Where each daemon keeps its own log (``messages``), by daemon name."""
    logs = {"sge_qmaster": paths.sge_spool / "qmaster" / "messages"}
    logs.update(
        {f"sge_execd@{node}": paths.sge_spool / "execd" / node / "messages" for node in NODES}
    )
    return logs


def _table(values: Mapping[str, str]) -> str:
    width = max(len(key) for key in values) + 1
    return "".join(f"{key.ljust(width)}{value}\n" for key, value in values.items())
