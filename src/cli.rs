//! Command-line interface: the dashboard by default, headless subcommands over the same
//! runtime otherwise. Usage errors exit with status 2 (clap's default), as config errors do.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "mcpomni",
    version,
    about = "A universal MCP client with an LLM agent, as a full-screen terminal dashboard",
    long_about = "A universal MCP client with an LLM agent, as a full-screen terminal dashboard.\n\n\
        Without a subcommand it opens the dashboard. The config is --config PATH, else \
        ./servers_config.json, else $XDG_CONFIG_HOME/mcpomni/servers_config.json, else the \
        bundled default (the demo MCP server).\n\n\
        Exit status: 0 success, 1 a server or tool failed, 2 usage or config error."
)]
pub struct Cli {
    /// The config file (servers_config.json format).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// List configured servers and their state after startup.
    Servers {
        #[arg(long)]
        json: bool,
    },
    /// List tools of every server (or one).
    Tools {
        #[arg(long, value_name = "SERVER")]
        server: Option<String>,
        /// A JSON array: server, name, qualified_name, description, input_schema.
        #[arg(long)]
        json: bool,
    },
    /// Call a tool and print its result (only SERVER is started).
    Call {
        server: String,
        /// The server's own tool name (the qualified `server__tool` name works too).
        tool: String,
        /// Arguments as a JSON object.
        #[arg(long, value_name = "JSON", default_value = "{}")]
        args: String,
        /// Print the whole result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List resources of every server (or one).
    Resources {
        #[arg(long, value_name = "SERVER")]
        server: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Read a resource and print its contents (only SERVER is started).
    Read {
        server: String,
        uri: String,
        #[arg(long)]
        json: bool,
    },
    /// List prompts of every server (or one).
    Prompts {
        #[arg(long, value_name = "SERVER")]
        server: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Get a prompt and print its messages (only SERVER is started).
    Prompt {
        server: String,
        name: String,
        /// Arguments as a JSON object of strings.
        #[arg(long, value_name = "JSON", default_value = "{}")]
        args: String,
        #[arg(long)]
        json: bool,
    },
    /// Run the bundled demo MCP server on stdin/stdout.
    #[command(hide = true)]
    DemoServer,
}
