#!/usr/bin/env python3
"""A misbehaving stdio "MCP server" for tests: it reads JSON-RPC requests and answers only the
methods named with --answer (comma-separated); every other request is swallowed and never
answered, like a server that hangs. Notifications are ignored.

Options:
  --answer M1,M2   methods to answer (initialize, tools/list, resources/list, prompts/list,
                   tools/call, resources/read, prompts/get, ping)
  --stderr TEXT    write TEXT to stderr at start
  --stdout TEXT    write TEXT (a line that is not JSON-RPC, like a banner) to stdout at start
  --env NAME,...   write NAME=value (or NAME=<unset>) for each variable to stderr at start
  --stubborn       ignore SIGTERM and keep running after stdin closes (only SIGKILL stops it)
  --noise          write non-JSON lines to stdout before every answer
  --flood N        after answering initialize, send N log notifications as fast as possible
  --bad-json-rpc   before every answer, send a JSON object that is not JSON-RPC
  --record FILE    append the method of every message received to FILE, one per line
                   (tools/call lines also carry the call's params as JSON)
  --delay-init S   wait S seconds before answering initialize (a slow, I/O-bound start)
  --exit-on M      exit with status 3 when a request for method M arrives (a crash)
  --crash-if-exists FILE
                   exit with status 3 at start if FILE exists, else create it: the first
                   run works, every restart crashes
"""
import json
import os
import signal
import sys
import time

args = sys.argv[1:]


def option(name, default=None):
    if name in args:
        i = args.index(name)
        return args[i + 1] if i + 1 < len(args) else default
    return default


answer = set(filter(None, (option("--answer", "") or "").split(",")))
stubborn = "--stubborn" in args
noise = "--noise" in args
flood = int(option("--flood", "0") or 0)
bad_json_rpc = "--bad-json-rpc" in args
record = option("--record")
delay_init = float(option("--delay-init", "0") or 0)
exit_on = option("--exit-on")
crash_if_exists = option("--crash-if-exists")
if crash_if_exists:
    if os.path.exists(crash_if_exists):
        print("crashing: not the first run", file=sys.stderr, flush=True)
        sys.exit(3)
    open(crash_if_exists, "w").close()
if option("--stderr"):
    print(option("--stderr"), file=sys.stderr, flush=True)
if option("--stdout"):
    print(option("--stdout"), flush=True)
for name in filter(None, (option("--env", "") or "").split(",")):
    print(f"{name}={os.environ.get(name, '<unset>')}", file=sys.stderr, flush=True)
if stubborn:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

RESULTS = {
    "initialize": {
        "protocolVersion": "2025-11-25",
        "capabilities": {"tools": {}, "resources": {}, "prompts": {}},
        "serverInfo": {"name": "black-hole", "version": "1.0"},
    },
    "tools/list": {"tools": [{"name": "hang", "inputSchema": {"type": "object"}}]},
    "resources/list": {"resources": [{"uri": "hole://r", "name": "r"}]},
    "prompts/list": {"prompts": [{"name": "p"}]},
    "tools/call": {"content": [{"type": "text", "text": "answered"}]},
    "resources/read": {"contents": [{"uri": "hole://r", "text": "answered"}]},
    "prompts/get": {"messages": []},
    "ping": {},
    "logging/setLevel": {},
}
RESULTS["initialize"]["capabilities"]["logging"] = {}

for line in sys.stdin:
    try:
        message = json.loads(line)
    except ValueError:
        continue
    method = message.get("method")
    if record:
        with open(record, "a") as f:
            # A tool call is recorded with its name and arguments, to prove what ran.
            extra = json.dumps(message.get("params", {})) if method == "tools/call" else ""
            f.write(f"{method} {extra}".rstrip() + "\n")
    if "id" in message and method == exit_on:
        sys.exit(3)
    if "id" not in message or method not in answer:
        continue
    if method == "initialize" and delay_init:
        time.sleep(delay_init)
    if noise:
        print("this is not JSON-RPC", flush=True)
    if bad_json_rpc:
        print(json.dumps({"hello": "not a json-rpc message", "id": [1, 2]}), flush=True)
    reply = {"jsonrpc": "2.0", "id": message["id"], "result": RESULTS.get(method, {})}
    print(json.dumps(reply), flush=True)
    if method == "initialize" and flood:
        for i in range(flood):
            note = {"jsonrpc": "2.0", "method": "notifications/message",
                    "params": {"level": "info", "data": f"flood {i}"}}
            sys.stdout.write(json.dumps(note) + "\n")
        sys.stdout.flush()

if stubborn:
    while True:
        time.sleep(1)
