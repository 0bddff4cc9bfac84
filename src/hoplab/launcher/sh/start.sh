# Start the launcher detached from this ssh session, so it outlives the connection.
cd "$dir"
if command -v setsid >/dev/null 2>&1; then
    setsid nohup sh "$dir/launch.sh" > "$dir/jupyter.log" 2>&1 < /dev/null &
else
    nohup sh "$dir/launch.sh" > "$dir/jupyter.log" 2>&1 < /dev/null &
fi
say pid "$!"
