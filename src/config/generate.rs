//! Shell completions and man pages, generated from the clap definitions so they never drift
//! from the flags.

use std::io::Write;

use clap::CommandFactory;

use super::Cli;

/// Writes `shell`'s completion script for `fakeai` to `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), "fakeai", out);
}

/// Writes the roff man page of `fakeai`, or of one of its subcommands (`fakeai-server(1)`), to
/// `out`. An unknown subcommand is an error naming the known ones.
pub fn man_page(subcommand: Option<&str>, out: &mut dyn Write) -> Result<(), String> {
    let mut cli = Cli::command();
    cli.build();
    let page = match subcommand {
        None => cli,
        Some(name) => {
            let known: Vec<String> = cli.get_subcommands().map(|c| c.get_name().to_owned()).collect();
            let sub = cli
                .find_subcommand(name)
                .ok_or_else(|| format!("no subcommand {name:?}: expected one of {}", known.join(", ")))?;
            let full = format!("fakeai-{}", sub.get_name());
            sub.clone().name(full.clone()).bin_name(full)
        }
    };
    clap_mangen::Man::new(page).render(out).map_err(|e| format!("cannot write the man page: {e}"))
}
