#!/bin/bash
#OAR -l /nodes=1/core=1,walltime=0:01:00
#OAR -n hoplab-scan
echo "started on $(hostname) at $(date +%s)"
echo "OAR_JOB_ID=$OAR_JOB_ID OAR_NODEFILE=$OAR_NODEFILE"
cat "$OAR_NODEFILE"
sleep 20
echo done
