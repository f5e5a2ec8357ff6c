# Sourced by the benchmarks: start_nats_cluster DIR starts a 3-node JetStream cluster on loopback
# (nats-server, free ports, store dirs under DIR), appends the server pids to the caller's `pids`
# array (its EXIT trap kills them) and sets nats_urls to "nats://127.0.0.1:P1,nats://...:P2,...".
# It returns once the cluster has a JetStream metadata leader (or after 10 s).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_nats_cluster() {
  local dir=$1 i
  local ports=() cports=()
  for i in 0 1 2; do ports+=("$(free_port)"); cports+=("$(free_port)"); done
  local routes="nats://127.0.0.1:${cports[0]},nats://127.0.0.1:${cports[1]},nats://127.0.0.1:${cports[2]}"
  for i in 0 1 2; do
    nats-server -a 127.0.0.1 -p "${ports[$i]}" -n "n$((i + 1))" -js -sd "$dir/store$i" --cluster_name bench \
      --cluster "nats://127.0.0.1:${cports[$i]}" --routes "$routes" >"$dir/nats$i.log" 2>&1 &
    pids+=($!)
  done
  for _ in $(seq 1 100); do
    grep -q "JetStream cluster new metadata leader\|Self is new JetStream cluster metadata leader" "$dir"/nats*.log && break
    sleep 0.1
  done
  nats_urls="nats://127.0.0.1:${ports[0]},nats://127.0.0.1:${ports[1]},nats://127.0.0.1:${ports[2]}"
}
