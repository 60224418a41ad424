//! `bqflow completions SHELL`: generated from the same clap definition as parsing and help.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::error::Result;

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: Shell,
}

pub fn run(args: CompletionsArgs) -> Result<u8> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "bqflow", &mut std::io::stdout());
    Ok(0)
}
