#!/usr/bin/env python3
"""A small MCP server on the official Python SDK (`mcp` 2.3.0), used as a second, independent
peer by mcpomni's interop tests.

Usage: py_server.py stdio | py_server.py sse PORT | py_server.py streamable-http PORT
       | py_server.py streamable-http-stateless PORT (no session, JSON answers)
HTTP transports bind 127.0.0.1 only: legacy SSE serves GET /sse + POST /messages/, streamable
HTTP serves /mcp. Logs go to stderr (stdout is the stdio transport).
"""

import asyncio
import sys

# The pre-2.x `mcp.server.fastmcp` import path raises in 2.3; MCPServer is its successor.
from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel, Field

server = MCPServer(name="mcpomni-py-peer", log_level="WARNING")


@server.tool()
def echo(message: str) -> str:
    """Return the message unchanged."""
    return message


@server.tool()
def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


@server.tool()
async def count(steps: int, ctx: Context) -> str:
    """Count to `steps`, reporting progress after each step (a no-op without a progress token)."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step} of {steps}")
        # rmcp hands each notification to a task of its own: a result sent right behind the
        # last one can overtake it on a busy machine (the client then counts it as late).
        await asyncio.sleep(0.02)
    return f"counted to {steps}"


@server.tool()
async def log(message: str, ctx: Context, level: str = "info") -> str:
    """Send `message` to the client as a notifications/message at `level`."""
    # Context.log is marked deprecated for the 2026-07-28 protocol; older (handshake) protocol
    # versions, which is what our client negotiates, still deliver it unconditionally.
    await ctx.log(level, message, logger_name="py-peer")
    return f"logged at {level}"


@server.tool()
def big(bytes: int) -> str:
    """Return exactly `bytes` characters of ASCII text (for large-message tests)."""
    return ("0123456789abcdef" * (bytes // 16 + 1))[:bytes]


@server.tool()
async def add_tool(name: str, ctx: Context) -> str:
    """Register a new tool `name` (it echoes its input) and announce tools/list_changed."""

    def dynamic(message: str) -> str:
        return f"{name}: {message}"

    server.add_tool(dynamic, name=name, description=f"Tool {name} added at runtime")
    # add_tool does not notify by itself; tell this session that its tool list changed.
    await ctx.session.send_tool_list_changed()
    return f"added {name}"


class Tea(BaseModel):
    """Every field has a default: accepting with the defaults is a full answer."""

    name: str = Field(default="Ada", description="Who drinks it")
    cups: int = Field(default=2, ge=0, le=10, description="Cups a day")
    milk: bool = Field(default=True, description="With milk")


@server.tool()
async def ask_tea(ctx: Context) -> str:
    """Ask the user (elicitation, form mode) how they take their tea; report the answer."""
    result = await ctx.elicit("How do you take your tea?", schema=Tea)
    if result.action == "accept":
        tea = result.data
        return f"accepted: name={tea.name} cups={tea.cups} milk={tea.milk}"
    return result.action


class Signup(BaseModel):
    """A required email without a default, a secret, and a bounded number."""

    email: str = Field(description="Where we write to you", json_schema_extra={"format": "email"})
    password: str = Field(description="Never shown on screen")
    age: int = Field(default=30, ge=18, le=120, description="Your age")


@server.tool()
async def sign_up(ctx: Context) -> str:
    """Ask for an email and a password (elicitation); report what arrived, never the password."""
    result = await ctx.elicit("Create your account", schema=Signup)
    if result.action == "accept":
        form = result.data
        return (
            f"signed up {form.email}, age {form.age}; "
            f"password of {len(form.password)} characters received"
        )
    return result.action


@server.resource("py://greeting", name="greeting", mime_type="text/plain")
def greeting() -> str:
    """A static text resource."""
    return "Hello from the Python peer"


def main() -> None:
    args = sys.argv[1:]
    if args == ["stdio"]:
        server.run("stdio")
    elif len(args) == 2 and args[0] in ("sse", "streamable-http"):
        server.run(args[0], host="127.0.0.1", port=int(args[1]))
    elif len(args) == 2 and args[0] == "streamable-http-stateless":
        server.run(
            "streamable-http",
            host="127.0.0.1",
            port=int(args[1]),
            stateless_http=True,
            json_response=True,
        )
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
